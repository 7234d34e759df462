// Lint rules: typescript-eslint's recommended type-aware set, plus a guard that keeps src/domain pure.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".testenv/", "testenv/.venv/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["src/domain/**/*.ts"],
    ignores: ["src/domain/**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/aws/**", "**/kube/**", "**/engine/**", "**/ops/**"],
              message: "src/domain is pure",
            },
            { group: ["@aws-sdk/*", "@kubernetes/*", "node:*"], message: "src/domain is pure" },
          ],
        },
      ],
    },
  },
);
