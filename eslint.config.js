// ESLint (flat config) for planview's front end: the ES modules in static/ (vendored code excluded).
// Run by `make lint-js` (part of `make test`); installed from package.json into node_modules/.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["static/vendor/**", "node_modules/**", ".venv/**", "benchmarks/out/**"] },
  js.configs.recommended,
  {
    files: ["static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: "module",
      globals: { ...globals.browser, L: "readonly" }
    },
    rules: {
      "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
      "no-var": "off",
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-implicit-globals": "error"
    }
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "module" }
  }
];
