// JSON logs (pino), one line per event. Credentials never reach a log line: the operator does not log them, and the
// redaction below is a second line of defence for fields that could hold them.
import { pino } from "pino";
import type { Logger } from "pino";

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { component: "aws-assume-role-operator" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        "credentials",
        "*.credentials",
        "secretAccessKey",
        "*.secretAccessKey",
        "sessionToken",
        "*.sessionToken",
        "accessKeyId",
        "*.accessKeyId",
        "data",
        "*.data",
        "token",
        "*.token",
      ],
      censor: "[redacted]",
    },
    formatters: { level: (label) => ({ level: label }) },
  });
}
