// Releases: the workflow passes actionlint (and a broken copy of it does not), a version that differs between the
// tag, package.json and Chart.yaml is refused, and `scripts/release --dry-run` makes the image archive, its SBOM and
// the packaged chart with one version. The image holds what the Dockerfile promises: no shell and no package manager,
// no @kubernetes/client-node, the OCI labels, and an SBOM that lists exactly the packages in node_modules.
// Needs no test world; the dry run builds the image with podman (layers cached after the first build).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const WORKFLOW = join(ROOT, ".github", "workflows", "release.yml");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string;
  devDependencies: Record<string, string>;
};
const VERSION = pkg.version;
const BIG = { maxBuffer: 64 * 1024 * 1024 };

function tempDir(t: { after(fn: () => void): void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("the release workflow", () => {
  test("passes actionlint, which refuses a copy with a misspelt step reference", async (t) => {
    const actionlint = (await run(join(ROOT, "scripts", "testenv"), ["actionlint"], BIG)).stdout.trim();
    await run(actionlint, ["-no-color", WORKFLOW], { cwd: ROOT });
    const dir = tempDir(t, "aar-actionlint-");
    mkdirSync(join(dir, ".github", "workflows"), { recursive: true });
    const broken = join(dir, ".github", "workflows", "release.yml");
    const text = readFileSync(WORKFLOW, "utf8");
    assert.match(text, /steps\.build\.outputs\.digest/);
    writeFileSync(broken, text.replaceAll("steps.build.outputs.digest", "steps.biuld.outputs.digest"));
    // actionlint reports on stdout and exits 1.
    await assert.rejects(
      run(actionlint, ["-no-color", broken], { cwd: dir }),
      (err: { code?: number; stdout?: string }) =>
        err.code === 1 && /property "biuld" is not defined/.test(err.stdout ?? ""),
    );
  });

  test("builds for amd64 and arm64 with SBOM and provenance, signs keyless, pushes image and chart on a version tag", () => {
    const wf = parse(readFileSync(WORKFLOW, "utf8")) as {
      on: { push: { tags: string[] } };
      jobs: Record<
        string,
        {
          permissions: Record<string, string>;
          steps: { uses?: string; run?: string; with?: Record<string, unknown> }[];
        }
      >;
    };
    assert.deepEqual(wf.on.push.tags, ["v*.*.*"]);
    const job = wf.jobs.release!;
    assert.equal(job.permissions["id-token"], "write", "cosign keyless needs the OIDC token");
    const build = job.steps.find((s) => s.uses?.startsWith("docker/build-push-action@"));
    assert.equal(build?.with?.platforms, "linux/amd64,linux/arm64");
    assert.equal(build?.with?.sbom, true);
    assert.equal(build?.with?.provenance, "mode=max");
    const scripts = job.steps.map((s) => s.run ?? "").join("\n");
    assert.match(scripts, /scripts\/release --check-version "\$GITHUB_REF_NAME"/);
    assert.match(scripts, /cosign sign --yes "\$REF"/);
    assert.match(scripts, /cosign attest --yes --type cyclonedx/);
    assert.match(scripts, /helm push .* "\$CHART_REPOSITORY"/);
    assert.match(scripts, /--version "\$VERSION" --app-version "\$VERSION"/);
  });
});

describe("scripts/release --check-version", () => {
  const release = join(ROOT, "scripts", "release");

  test("prints the version for its tag and refuses another tag", async () => {
    assert.equal((await run(release, ["--check-version", `v${VERSION}`])).stdout.trim(), VERSION);
    await assert.rejects(run(release, ["--check-version", "v9.9.9"]), /the tag is v9\.9\.9/);
  });

  test("refuses a Chart.yaml whose version or appVersion differs from package.json's, naming it", async (t) => {
    // A copy of what the check reads, the chart's appVersion and version changed.
    const dir = tempDir(t, "aar-release-");
    mkdirSync(join(dir, "scripts"));
    mkdirSync(join(dir, "charts", "aws-assume-role"), { recursive: true });
    cpSync(release, join(dir, "scripts", "release"));
    cpSync(join(ROOT, "package.json"), join(dir, "package.json"));
    const chart = readFileSync(join(ROOT, "charts", "aws-assume-role", "Chart.yaml"), "utf8");
    const write = (text: string) => writeFileSync(join(dir, "charts", "aws-assume-role", "Chart.yaml"), text);
    write(chart);
    assert.equal(
      (await run(join(dir, "scripts", "release"), ["--check-version", `v${VERSION}`])).stdout.trim(),
      VERSION,
    );
    write(chart.replace(/^appVersion: .*$/m, 'appVersion: "0.0.9"'));
    await assert.rejects(
      run(join(dir, "scripts", "release"), ["--check-version", `v${VERSION}`]),
      /appVersion is 0\.0\.9/,
    );
    write(chart.replace(/^version: .*$/m, "version: 0.0.8"));
    await assert.rejects(
      run(join(dir, "scripts", "release"), ["--check-version", `v${VERSION}`]),
      /Chart\.yaml version is 0\.0\.8/,
    );
  });

  test("the Dockerfile's default Node is the version package.json pins", () => {
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    assert.equal(dockerfile.match(/^ARG NODE_VERSION=(.*)$/m)?.[1], pkg.devDependencies.node);
  });
});

interface Descriptor {
  mediaType: string;
  digest: string;
}

/** An OCI image archive unpacked: its config and, per layer, the paths it holds and a way to read one. */
async function openArchive(tar: string, dir: string) {
  await run("tar", ["-xf", tar, "-C", dir]);
  const blob = (d: Descriptor) => join(dir, "blobs", ...d.digest.split(":"));
  const json = <T>(d: Descriptor) => JSON.parse(readFileSync(blob(d), "utf8")) as T;
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests: Descriptor[] };
  assert.equal(index.manifests.length, 1, "one image (this machine's platform)");
  const manifest = json<{ config: Descriptor; layers: Descriptor[] }>(index.manifests[0]!);
  const config = json<{
    config: { Labels?: Record<string, string>; User?: string; Entrypoint?: string[]; Env?: string[] };
  }>(manifest.config);
  const layers = await Promise.all(
    manifest.layers.map(async (l) => {
      const z = l.mediaType.endsWith("gzip") ? "z" : "";
      const paths = (await run("tar", [`-t${z}f`, blob(l)], BIG)).stdout
        .split("\n")
        .filter(Boolean)
        .map((p) => p.replace(/^\.?\//, "").replace(/\/$/, ""));
      return { paths, read: async (p: string) => (await run("tar", [`-x${z}Of`, blob(l), p], BIG)).stdout };
    }),
  );
  const paths = new Set(layers.flatMap((l) => l.paths));
  const read = async (p: string) => {
    const layer = layers.findLast((l) => l.paths.includes(p));
    assert.ok(layer, `the image holds ${p}`);
    return layer.read(p);
  };
  return { config: config.config, paths, read };
}

test("scripts/release --dry-run makes the image archive, its SBOM and the chart, all with one version", async (t) => {
  try {
    await run(join(ROOT, "scripts", "image"), ["tools"], BIG);
  } catch (err) {
    if (!existsSync("/usr/bin/podman"))
      return t.skip(`podman is not installable here, so no image can be built: ${(err as Error).message}`);
    throw err;
  }
  const out = tempDir(t, "aar-dry-run-");
  await run(join(ROOT, "scripts", "release"), ["--dry-run", "--out", out], { ...BIG, cwd: ROOT });

  const image = `aws-assume-role-operator-${VERSION}.oci.tar`;
  const sbomFile = `aws-assume-role-operator-${VERSION}.sbom.cdx.json`;
  const chartFile = `aws-assume-role-${VERSION}.tgz`;
  assert.deepEqual(readdirSync(out).sort(), [image, sbomFile, chartFile, "SHA256SUMS"].sort());
  await run("sha256sum", ["--check", "--quiet", "SHA256SUMS"], { cwd: out });

  const chart = parse(
    (await run("tar", ["-xzOf", join(out, chartFile), "aws-assume-role/Chart.yaml"])).stdout,
  ) as {
    version: string;
    appVersion: string;
  };
  assert.equal(chart.version, VERSION);
  assert.equal(chart.appVersion, VERSION);

  const a = await openArchive(join(out, image), tempDir(t, "aar-oci-"));
  const revision = (await run("git", ["-C", ROOT, "rev-parse", "HEAD"])).stdout.trim();
  const labels = a.config.Labels ?? {};
  assert.equal(labels["org.opencontainers.image.version"], VERSION);
  assert.equal(labels["org.opencontainers.image.revision"], revision);
  assert.ok(
    a.config.Env?.includes(`AAR_REVISION=${revision}`),
    `the operator sees the revision label too, for build_info: ${JSON.stringify(a.config.Env)}`,
  );
  assert.match(labels["org.opencontainers.image.source"] ?? "", /^https:\/\/github\.com\//);
  assert.match(labels["org.opencontainers.image.created"] ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(a.config.User, "65532:65532");
  assert.deepEqual(a.config.Entrypoint, ["node", "dist/main.js"]);

  for (const p of [
    "usr/local/bin/node",
    "app/dist/main.js",
    "app/sbom.cdx.json",
    "etc/ssl/certs/ca-certificates.crt",
    "etc/passwd",
  ])
    assert.ok(a.paths.has(p), `the image holds ${p}`);
  const programs = [...a.paths].filter((p) => /^(usr\/(local\/)?)?s?bin\/[^/]+$/.test(p));
  assert.deepEqual(
    programs,
    ["usr/local/bin/node"],
    "node is the only program: no shell, no package manager",
  );
  assert.deepEqual(
    [...a.paths].filter((p) =>
      /^(usr\/(local\/)?lib\/node_modules\/npm|var\/lib\/apt|var\/lib\/dpkg\/status$)/.test(p),
    ),
    [],
    "no npm, apt or dpkg database",
  );
  assert.ok(a.paths.has("app/node_modules/pino/package.json"), "the production dependencies are installed");
  assert.ok(
    ![...a.paths].some((p) => p.startsWith("app/node_modules/@kubernetes/")),
    "@kubernetes/client-node (a devDependency) is left out",
  );

  // The SBOM beside the image is the one inside it, and lists exactly the packages node_modules holds.
  const sbomText = await a.read("app/sbom.cdx.json");
  assert.equal(readFileSync(join(out, sbomFile), "utf8"), sbomText);
  const sbom = JSON.parse(sbomText) as {
    bomFormat: string;
    metadata: { component: { name: string; version: string } };
    components: { name: string; version: string }[];
  };
  assert.equal(sbom.bomFormat, "CycloneDX");
  assert.equal(sbom.metadata.component.name, "aws-assume-role-operator");
  assert.equal(sbom.metadata.component.version, VERSION);
  const lock = JSON.parse(await a.read("app/node_modules/.package-lock.json")) as {
    packages: Record<string, { version: string }>;
  };
  const installed = new Set(
    Object.entries(lock.packages).map(
      ([path, p]) => `${path.slice(path.lastIndexOf("node_modules/") + 13)}@${p.version}`,
    ),
  );
  const listed = new Set(sbom.components.map((c) => `${c.name}@${c.version}`));
  assert.deepEqual([...listed].sort(), [...installed].sort());
  assert.ok(![...listed].some((c) => c.startsWith("@kubernetes/")), "the SBOM lists no client-node");
});
