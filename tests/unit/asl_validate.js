// Validates Amazon States Language definitions with asl-validator (npm, pinned in package-lock.json),
// all in one node process. stdin: a JSON array of {"name": ..., "definition": {...}}. stdout: a JSON
// array of {"name": ..., "isValid": bool, "errors": [asl-validator's error objects]}, in the same order.
// Used by tests/unit/test_template_checks.py.
"use strict";

const aslValidator = require("asl-validator");

const chunks = [];
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", () => {
  const requests = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const results = requests.map(({ name, definition }) => {
    // Every check on: schema, state names, transitions, terminal states, JSONPath syntax, Task ARNs.
    const { isValid, errors } = aslValidator(definition, { checkPaths: true, checkArn: true });
    return { name, isValid, errors };
  });
  process.stdout.write(JSON.stringify(results));
});
