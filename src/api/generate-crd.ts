// Writes the chart's CRD file from src/api/schema.ts; with --check, fails when the committed file is stale.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { CRD_FILE, renderCrdYaml } from "./crd.ts";

const target = fileURLToPath(new URL(`../../${CRD_FILE}`, import.meta.url));
const expected = renderCrdYaml();

if (process.argv.includes("--check")) {
  const current = await readFile(target, "utf8").catch(() => undefined);
  if (current !== expected) {
    const what = current === undefined ? "is missing" : "differs from src/api/schema.ts";
    console.error(`${CRD_FILE} ${what}; run \`npm run crd\` and commit the result.`);
    process.exit(1);
  }
  console.log(`${CRD_FILE} is up to date.`);
} else {
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, expected);
  console.log(`wrote ${CRD_FILE}`);
}
