// One JSON line per event on stdout, in the operator's shape (level, time, msg). Plain writes instead of pino: the
// agent runs on every node and pino costs it about 1.5 MiB of RSS. No token or credential is ever passed here.
import type { LogLevel } from "./config.ts";

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface AgentLog {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createAgentLog(
  level: LogLevel,
  base: LogFields,
  write: (line: string) => void = (line) => process.stdout.write(line),
): AgentLog {
  const at =
    (lineLevel: LogLevel) =>
    (msg: string, fields: LogFields = {}): void => {
      if (RANK[lineLevel] < RANK[level]) return;
      write(
        `${JSON.stringify({ level: lineLevel, time: new Date().toISOString(), ...base, ...fields, msg })}\n`,
      );
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A log that drops everything (tests). */
export const silentLog: AgentLog = { debug() {}, info() {}, warn() {}, error() {} };
