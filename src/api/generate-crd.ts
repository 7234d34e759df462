// Writes the chart's CRD files from src/api; with --check, fails when a committed file is stale.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { CRDS, crdFile, renderCrdYaml } from "./crd.ts";

let stale = false;
for (const def of CRDS) {
  const file = crdFile(def);
  const target = fileURLToPath(new URL(`../../${file}`, import.meta.url));
  const expected = renderCrdYaml(def);
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
if (stale) process.exit(1);
