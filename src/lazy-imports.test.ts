// What the operator loads only when the resources or flags at hand need it (each costs RSS: docs/benchmarks.md,
// "imports"). Every case runs in a fresh Node process that records every module it resolves (module.registerHooks,
// which sees import and require alike; Node's own built-ins are in process.moduleLoadList) before it imports the
// module under test, and reports what was loaded before and after the step that needs the lazy part — so a static
// import of that part makes the "before" check fail.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
const here = (path: string) => new URL(path, import.meta.url).href;

/**
 * Runs `body` (an async ES module body with `loaded(pattern)`, `mark()` and `report(value)`) in a fresh process and
 * returns what it reported. `mark()` returns whether each pattern was loaded so far.
 */
async function inFreshProcess(body: string, env: Record<string, string> = {}): Promise<unknown> {
  const child = `
import { registerHooks } from "node:module";
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.add(r.url); return r; } });
const loaded = (pattern) => [...seen].some((url) => pattern.test(url));
const report = (value) => process.stdout.write(JSON.stringify(value));
${body}
`;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", child], {
    env: { ...process.env, NODE_OPTIONS: "", ...env },
  });
  return JSON.parse(stdout) as unknown;
}

const FEATURES = {
  cluster: /\/credentials\/cluster-reconciler\.ts$/,
  serviceAccounts: /\/features\/service-accounts\/feature\.ts$/,
  podIdentity: /\/features\/pod-identity\/feature\.ts$/,
  rolloutRestart: /\/features\/rollout-restart\/feature\.ts$/,
};

describe("lazy imports", () => {
  test("the ECR client is not loaded until the first ECR token call, and is loaded by it", async () => {
    const out = (await inFreshProcess(
      `
const { SdkAwsAccess } = await import(${JSON.stringify(here("./aws/aws.ts"))});
const { RateLimiters } = await import(${JSON.stringify(here("./aws/rate-limit.ts"))});
const ecr = /\\/@aws-sdk\\/client-ecr\\//;
const aws = new SdkAwsAccess(new RateLimiters({}));
const before = loaded(ecr);
const credentials = { accessKeyId: "AKIDLAZYTEST", secretAccessKey: "lazy", sessionToken: "lazy", expirationTime: new Date() };
// Aborted before it is sent (and the endpoint is a closed loopback port).
const error = await aws.ecrToken(credentials, "us-east-1", AbortSignal.abort()).then(() => "none", (e) => e.name);
report({ before, after: loaded(ecr), error });
`,
      {
        AWS_ENDPOINT_URL: "http://127.0.0.1:9",
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "AKIDLAZYTEST",
        AWS_SECRET_ACCESS_KEY: "lazy",
      },
    )) as { before: boolean; after: boolean; error: string };
    assert.equal(out.before, false, "@aws-sdk/client-ecr was loaded with the AWS adapter");
    assert.equal(
      out.after,
      true,
      "@aws-sdk/client-ecr was not loaded by ecrToken (the check proves nothing)",
    );
    assert.equal(out.error, "AwsFailure", "the aborted call did not fail as an AwsFailure");
  });

  test("the cluster kind's and the features' modules are loaded only when their flag is on", async () => {
    const out = (await inFreshProcess(`
const patterns = ${JSON.stringify(Object.fromEntries(Object.entries(FEATURES).map(([k, v]) => [k, v.source])))};
const state = () => Object.fromEntries(Object.entries(patterns).map(([k, p]) => [k, loaded(new RegExp(p))]));
const { loadOptionalModules } = await import(${JSON.stringify(here("./operator.ts"))});
const off = await loadOptionalModules({});
const afterOff = state();
const on = await loadOptionalModules({
  clusterAssumeRoles: true,
  serviceAccounts: true,
  podIdentity: { agent: { namespace: "kube-system", serviceAccount: "agent" } },
  rolloutRestart: { maxSpacingMs: 1000, minRolloutSeconds: 1 },
});
report({ offKeys: Object.keys(off), afterOff, onKeys: Object.keys(on).sort(), afterOn: state() });
`)) as {
      offKeys: string[];
      afterOff: Record<string, boolean>;
      onKeys: string[];
      afterOn: Record<string, boolean>;
    };
    const none = Object.fromEntries(Object.keys(FEATURES).map((k) => [k, false]));
    const all = Object.fromEntries(Object.keys(FEATURES).map((k) => [k, true]));
    assert.deepEqual(out.afterOff, none, "a module was loaded with every flag off");
    assert.deepEqual(out.offKeys, []);
    assert.deepEqual(out.afterOn, all, "a module was not loaded with its flag on (the check proves nothing)");
    assert.deepEqual(out.onKeys, Object.keys(FEATURES).sort());
  });

  for (const main of ["./main.ts", "./agent/main.ts"]) {
    test(`${main} and its imports never import node:http as an ES module, whose namespace would load undici`, async () => {
      const out = (await inFreshProcess(`
process.argv = [process.argv[0], "main.ts", "--help"];
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = () => true; // the help text
await import(${JSON.stringify(here(main))});
await new Promise((resolve) => setTimeout(resolve, 100));
process.stdout.write = write;
report({ undici: process.moduleLoadList.filter((m) => m.includes("undici")) });
`)) as { undici: string[] };
      assert.deepEqual(out.undici, [], `undici was loaded by ${main} and its imports`);
    });
  }

  test("the YAML parser is loaded only when a kubeconfig file is read", async () => {
    const out = (await inFreshProcess(`
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
const { fromKubeconfigFiles, inCluster } = await import(${JSON.stringify(here("./kube/kubeconfig.ts"))});
const parser = /\\/node_modules\\/yaml\\//;
inCluster("127.0.0.1", "6443", "/nonexistent");
const before = loaded(parser);
const file = join(mkdtempSync(join(tmpdir(), "lazy-yaml-")), "config");
writeFileSync(file, "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\\nusers: [{name: u, user: {token: t}}]\\ncontexts: [{name: x, context: {cluster: c, user: u}}]\\ncurrent-context: x\\n");
const server = fromKubeconfigFiles([file]).server;
report({ before, after: loaded(parser), server });
`)) as { before: boolean; after: boolean; server: string };
    assert.equal(out.before, false, "yaml was loaded with kubeconfig.ts (in a Pod no file is read)");
    assert.equal(
      out.after,
      true,
      "yaml was not loaded by reading a kubeconfig file (the check proves nothing)",
    );
    assert.equal(out.server, "https://127.0.0.1:6443");
  });
});
