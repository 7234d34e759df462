// Reading the Prometheus text format back and writing promtool's series notation, with plain values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { familyOf, isCumulative, labelShape, parseExposition, seriesNotation } from "./exposition.ts";

const TEXT = `# HELP a_total Things.
# TYPE a_total counter
a_total{kind="AWSAssumeRole",result="failure"} 3
# TYPE lat_seconds histogram
lat_seconds_bucket{le="+Inf",api="sts:AssumeRole"} 2
lat_seconds_sum{api="sts:AssumeRole"} 0.5
lat_seconds_count{api="sts:AssumeRole"} 2
# A comment line.
# TYPE watch gauge
watch{watch="secrets@team-a",message="say \\"hi\\"\\nback\\\\slash"} 0
plain 1.5e+09
`;

test("parses samples, escaped label values and each family's type", () => {
  const { samples, types } = parseExposition(TEXT);
  assert.equal(samples.length, 6);
  assert.deepEqual(samples[0], {
    name: "a_total",
    labels: { kind: "AWSAssumeRole", result: "failure" },
    value: 3,
  });
  assert.equal(samples[4]!.labels.message, 'say "hi"\nback\\slash');
  assert.deepEqual(samples[5], { name: "plain", labels: {}, value: 1.5e9 });
  assert.equal(familyOf("lat_seconds_count", types), "lat_seconds");
  assert.equal(isCumulative(samples[1]!, types), true);
  assert.equal(isCumulative(samples[0]!, types), true);
  assert.equal(isCumulative(samples[4]!, types), false);
});

test("refuses a line it cannot read", () => {
  assert.throws(() => parseExposition('x{kind="a} 1\n'), /unparsable/);
  assert.throws(() => parseExposition("x{} \n"), /unparsable/);
});

test("writes series as PromQL spells them, labels sorted and quoted", () => {
  assert.equal(
    seriesNotation("w", { watch: "secrets@*", instance: "10.0.0.7:8080", q: 'a"b' }),
    'w{instance="10.0.0.7:8080", q="a\\"b", watch="secrets@*"}',
  );
  assert.equal(labelShape({ b: "1", a: "2" }), "a,b");
});
