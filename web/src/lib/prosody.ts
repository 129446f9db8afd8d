/** Reads `prosody_analysis` events and the prosody REST answers into one shape. The
 * explanation's layout is the prosody issue's to choose, so several are understood:
 * a list of `{feature, contribution}`, a map per score of such lists, or of feature → number. */
import type { Contribution, LearnedOpinion, ProsodyResult, RelativeChange, ScoreInterval, Turn } from "./types";

export const SCORE_NAMES = ["confidence", "stability", "affability"] as const;
export type ScoreName = (typeof SCORE_NAMES)[number];

export const SCORE_LABELS: Record<ScoreName, string> = {
  confidence: "自信",
  stability: "穩定",
  affability: "親和",
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

function fromItem(item: unknown, score?: string): Contribution | null {
  if (!isObj(item)) return null;
  const feature = item.feature ?? item.name ?? item.label ?? item.key;
  const value = num(item.contribution) ?? num(item.weighted) ?? num(item.impact) ?? num(item.weight) ?? num(item.value);
  if (typeof feature !== "string" || value === undefined) return null;
  const owner = typeof item.score === "string" ? item.score : score;
  return { feature, value, ...(owner ? { score: owner } : {}) };
}

export function contributionsOf(explanation: unknown): Contribution[] {
  const out: Contribution[] = [];
  const visit = (value: unknown, score?: string): void => {
    if (Array.isArray(value)) {
      for (const item of value) {
        const c = fromItem(item, score);
        if (c) out.push(c);
      }
    } else if (isObj(value)) {
      if (Array.isArray(value.contributions) || isObj(value.contributions)) {
        visit(value.contributions, score);
        return;
      }
      for (const [key, inner] of Object.entries(value)) {
        const n = num(inner);
        if (n !== undefined && score) out.push({ feature: key, value: n, score });
        else if (Array.isArray(inner) || isObj(inner)) visit(inner, score ?? key);
      }
    }
  };
  visit(explanation);
  return out;
}

export function topContributions(list: Contribution[], count = 5, score?: string): Contribution[] {
  return list
    .filter((c) => !score || c.score === score)
    .slice()
    .sort((a, b) => Math.abs(b.value) - Math.abs(a.value))
    .slice(0, count);
}

export function toProsody(raw: unknown): ProsodyResult | null {
  if (!isObj(raw)) return null;
  const id = raw.transcription_id ?? raw.transcriptionId;
  if (typeof id !== "string" && typeof id !== "number") return null;
  const scoresRaw = isObj(raw.scores) ? raw.scores : raw;
  const scores: ProsodyResult["scores"] = {};
  for (const name of SCORE_NAMES) {
    const value = num(scoresRaw[name]) ?? (isObj(scoresRaw[name]) ? num((scoresRaw[name] as Obj).value) : undefined);
    if (value !== undefined) scores[name] = value;
  }
  let quality: string | undefined = typeof raw.status === "string" ? raw.status : undefined;
  let qualityReason: string | undefined;
  const reasonsOf = (v: unknown) => (Array.isArray(v) && v.length ? v.map(String).join("、") : undefined);
  if (typeof raw.quality === "string") quality = raw.quality;
  else if (isObj(raw.quality)) {
    const q = raw.quality;
    quality = typeof q.status === "string" ? q.status : q.ok === false ? "insufficient_quality" : (quality ?? "ok");
    qualityReason = typeof q.message === "string" && q.message ? q.message : typeof q.reason === "string" ? q.reason : reasonsOf(q.reasons);
  }
  qualityReason ??= typeof raw.reason === "string" ? raw.reason : reasonsOf(raw.reasons);
  const explanation = raw.explanation ?? raw.contributions;
  return {
    transcriptionId: String(id),
    turnId: typeof raw.turn_id === "string" ? raw.turn_id : undefined,
    scores: Object.keys(scores).length ? scores : undefined,
    quality,
    qualityReason,
    contributions: contributionsOf(explanation),
    summary: typeof explanation === "string" ? explanation : isObj(explanation) && typeof explanation.summary === "string" ? explanation.summary : undefined,
    interval: intervalOf(raw.interval),
    relative: relativeOf(raw.relative),
    learned: learnedOf(raw.learned),
  };
}

function learnedOf(raw: unknown): LearnedOpinion | undefined {
  if (!isObj(raw) || typeof raw.engine !== "string") return undefined;
  const v = isObj(raw.values) ? raw.values : undefined;
  const arousal = num(v?.arousal);
  const dominance = num(v?.dominance);
  const valence = num(v?.valence);
  return {
    engine: raw.engine,
    licence: typeof raw.licence === "string" ? raw.licence : "",
    assumption: typeof raw.assumption === "string" ? raw.assumption : "",
    values: arousal !== undefined && dominance !== undefined && valence !== undefined ? { arousal, dominance, valence } : undefined,
    error: typeof raw.error === "string" ? raw.error : undefined,
  };
}

function intervalOf(raw: unknown): ProsodyResult["interval"] {
  if (!isObj(raw)) return undefined;
  const out: Partial<Record<ScoreName, ScoreInterval>> = {};
  for (const name of SCORE_NAMES) {
    const item = raw[name];
    if (!isObj(item)) continue;
    const low = num(item.low);
    const high = num(item.high);
    if (low !== undefined && high !== undefined) out[name] = { low, high, halfWidth: num(item.half_width) ?? (high - low) / 2 };
  }
  return Object.keys(out).length ? out : undefined;
}

function relativeOf(raw: unknown): RelativeChange | undefined {
  if (!isObj(raw) || !isObj(raw.scores)) return undefined;
  const scores: RelativeChange["scores"] = {};
  for (const name of SCORE_NAMES) {
    const item = (raw.scores as Obj)[name];
    if (!isObj(item)) continue;
    const baseline = num(item.baseline);
    const change = num(item.change);
    const threshold = num(item.threshold);
    if (baseline !== undefined && change !== undefined && threshold !== undefined) {
      scores[name] = { baseline, change, threshold, exceedsNoise: item.exceeds_noise === true };
    }
  }
  return Object.keys(scores).length ? { earlierUtterances: num(raw.earlier_utterances) ?? 0, scores } : undefined;
}

/** `GET /api/v1/sessions/{id}/prosody`: a list, or an object holding one. */
export function toProsodyList(raw: unknown): ProsodyResult[] {
  const list = Array.isArray(raw)
    ? raw
    : isObj(raw)
      ? ["items", "turns", "utterances", "trend", "scores"].map((k) => raw[k]).find(Array.isArray) ?? []
      : [];
  return list.map(toProsody).filter((p): p is ProsodyResult => p !== null);
}

/** A turn's result: through its transcription, or the turn id the analysis names. */
export function prosodyForTurn(results: Record<string, ProsodyResult>, turn: Turn): ProsodyResult | undefined {
  if (turn.transcriptionId && results[turn.transcriptionId]) return results[turn.transcriptionId];
  return turn.serverId ? Object.values(results).find((r) => r.turnId === turn.serverId) : undefined;
}

export function isUsable(p: ProsodyResult | undefined): boolean {
  return !!p?.scores && (p.quality === undefined || p.quality === "ok" || p.quality === "good");
}
