// Typed code over the generated kpi.d.ts: `npm run check` fails when the spec stops fitting it.
import type { components, operations, paths } from "./kpi";

type Schemas = components["schemas"];
type DefinitionPage =
  paths["/api/kpis/definitions"]["get"]["responses"]["200"]["content"]["application/json"];
type DefinitionCreate = Schemas["DefinitionCreate"];
type Scorecard =
  operations["getScorecard"]["responses"]["200"]["content"]["application/json"];
type ScorecardQuery = NonNullable<operations["getScorecard"]["parameters"]["query"]>;
type Invalid =
  operations["createDefinition"]["responses"]["422"]["content"]["application/problem+json"];
type RecordMeasurement =
  paths["/api/kpis/assignments/{assignment_id}/measurements/{period_start}"]["put"];
type ManualValue = RecordMeasurement["requestBody"]["content"]["application/json"];

export const newKpi: DefinitionCreate = {
  key: "cases_resolved",
  name: "Cases resolved",
  unit: "count",
  target_type: "higher_better",
  aggregation_period: "weekly",
  calculation_type: "query",
  config: { query_key: "cases_resolved_count" },
};

// @ts-expect-error: the spec lists the aggregation periods; others do not type-check.
export const fortnightly: DefinitionCreate["aggregation_period"] = "fortnightly";

export const value: ManualValue = { value: 93.5, comment: "survey of the week" };

export function keys(page: DefinitionPage): string[] {
  return page.items.map((definition) => definition.key);
}

export function weightedScore(card: Scorecard): number | null {
  let weight = 0;
  let total = 0;
  for (const kpi of card.kpis) {
    if (kpi.score !== null && kpi.weight > 0) {
      weight += kpi.weight;
      total += kpi.weight * kpi.score;
    }
  }
  return weight === 0 ? null : total / weight;
}

export function refusedFields(problem: Invalid): string[] {
  return (problem.errors ?? []).map((e) => `${e.loc.join(".")}: ${e.msg}`);
}

export async function scorecard(base: string, query: ScorecardQuery): Promise<Scorecard> {
  const params = new URLSearchParams();
  for (const [name, given] of Object.entries(query)) {
    if (given !== undefined && given !== null) params.set(name, String(given));
  }
  const response = await fetch(`${base}/api/kpis/metrics/scorecard?${params}`);
  if (response.status === 422) {
    throw new Error(refusedFields((await response.json()) as Invalid).join("; "));
  }
  return (await response.json()) as Scorecard;
}

export const weekly: ScorecardQuery = { user_id: "1", period_kind: "weekly", date: "2026-06-01" };
