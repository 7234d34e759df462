// Writes the chart's CRD templates from src/api; with --check, fails when a committed file is stale (or the old
// crds/ folder is back); with --plain, prints the plain CRDs for `kubectl apply -f -` instead.
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { CRDS, crdFile, renderCrdTemplate, renderPlainCrds } from "./crd.ts";

const fromRoot = (file: string) => fileURLToPath(new URL(`../../${file}`, import.meta.url));

/**
 * Helm installs a chart's crds/ folder before its templates and never upgrades it: CRDs there and in templates/
 * would collide on a fresh install, so the folder must stay gone.
 */
const LEGACY_CRD_FOLDER = "charts/aws-assume-role/crds";

if (process.argv.includes("--plain")) {
  process.stdout.write(renderPlainCrds());
  process.exit(0);
}

let stale = false;
for (const def of CRDS) {
  const file = crdFile(def);
  const target = fromRoot(file);
  const expected = renderCrdTemplate(def);
  if (process.argv.includes("--check")) {
    const current = await readFile(target, "utf8").catch(() => undefined);
    if (current !== expected) {
      const what = current === undefined ? "is missing" : `differs from ${def.source}`;
      console.error(`${file} ${what}; run \`npm run crd\` and commit the result.`);
      stale = true;
    } else {
      console.log(`${file} is up to date.`);
    }
  } else {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, expected);
    console.log(`wrote ${file}`);
  }
}
if (
  await access(fromRoot(LEGACY_CRD_FOLDER)).then(
    () => true,
    () => false,
  )
) {
  console.error(
    `${LEGACY_CRD_FOLDER}/ exists: the chart installs the CRDs from templates/crds/; remove the folder.`,
  );
  stale = true;
}
if (stale) process.exit(1);
