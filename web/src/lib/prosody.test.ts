import { describe, expect, it } from "vitest";
import { contributionsOf, isUsable, toProsody, toProsodyList, topContributions } from "./prosody";

describe("prosody payloads", () => {
  it("reads a flat list of contributions", () => {
    const list = contributionsOf([{ feature: "jitter", contribution: -0.4, score: "stability" }, { name: "rate", weight: 0.2 }]);
    expect(list).toEqual([{ feature: "jitter", value: -0.4, score: "stability" }, { feature: "rate", value: 0.2 }]);
  });

  it("reads a map per score of lists or of feature → number", () => {
    const list = contributionsOf({
      confidence: [{ feature: "loudness", contribution: 0.7 }],
      affability: { f0_range: -0.3, speech_rate: 0.1 },
      stability: { contributions: [{ feature: "hnr", value: 0.5 }] },
    });
    expect(list).toContainEqual({ feature: "loudness", value: 0.7, score: "confidence" });
    expect(list).toContainEqual({ feature: "f0_range", value: -0.3, score: "affability" });
    expect(list).toContainEqual({ feature: "hnr", value: 0.5, score: "stability" });
    expect(topContributions(list, 2).map((c) => c.feature)).toEqual(["loudness", "hnr"]);
  });

  it("understands the event, a quality gate, and the session list", () => {
    const ok = toProsody({ transcription_id: "a", scores: { confidence: 71.5, stability: 60, affability: 55 }, quality: "ok", explanation: "說話穩定" });
    expect(ok).toMatchObject({ transcriptionId: "a", summary: "說話穩定" });
    expect(isUsable(ok!)).toBe(true);
    const poor = toProsody({ transcription_id: "b", quality: { ok: false, reason: "太吵" } });
    expect(poor).toMatchObject({ quality: "insufficient_quality", qualityReason: "太吵" });
    expect(isUsable(poor!)).toBe(false);
    expect(toProsodyList({ items: [{ transcription_id: "a", confidence: 50 }] })[0]!.scores).toEqual({ confidence: 50 });
    expect(toProsody({ scores: {} })).toBeNull();
  });
});

import { previewUrlOf } from "./api";

describe("voice preview answers", () => {
  it("finds the url per tier, fast first, or says it is pending", () => {
    expect(previewUrlOf({ tiers: { hq: { status: "ready", url: "/hq" }, fast: { status: "ready", url: "/fast" } } }).url).toBe("/fast");
    expect(previewUrlOf({ tiers: { fast: { status: "pending" }, hq: { status: "failed", reason: "HQ 不可用" } } })).toEqual({ pending: true, reason: "HQ 不可用" });
    expect(previewUrlOf({ url: "/a.wav" }).url).toBe("/a.wav");
  });
});

describe("the prosody branch's payloads", () => {
  it("reads the event: explanation per score with contributions, quality object", () => {
    const r = toProsody({
      transcription_id: "tr",
      turn_id: "t1",
      status: "ok",
      mode: "norms",
      scores: { confidence: 64.2, stability: 70.1, affability: 55 },
      quality: { ok: true, status: "ok", reasons: [], message: "", metrics: { snr_db: 30 } },
      explanation: { confidence: [{ feature: "intensity_mean_db", value: 70, reference: 65, z: 1.2, weight: 0.3, direction: "+", contribution: 0.72 }] },
    })!;
    expect(r).toMatchObject({ turnId: "t1", quality: "ok" });
    expect(r.contributions).toEqual([{ feature: "intensity_mean_db", value: 0.72, score: "confidence" }]);
    expect(isUsable(r)).toBe(true);
  });

  it("reads a refused utterance and the session summary's turns (not its trend map)", () => {
    const refused = toProsody({ transcription_id: "x", status: "insufficient_quality", scores: null, quality: { ok: false, status: "insufficient_quality", reasons: ["low_snr"], message: "背景噪音太大" } })!;
    expect(refused).toMatchObject({ quality: "insufficient_quality", qualityReason: "背景噪音太大" });
    const list = toProsodyList({
      session_id: "s",
      trend: { confidence: { mean: 60, direction: "steady" } },
      turns: [
        { turn_number: 1, turn_id: "t1", transcription_id: "a", status: "ok", scores: { confidence: 60, stability: 61, affability: 62 }, reasons: [] },
        { turn_number: 2, turn_id: "t2", transcription_id: "b", status: "insufficient_quality", scores: null, reasons: ["too_short"] },
      ],
    });
    expect(list.map((p) => [p.transcriptionId, p.quality, p.qualityReason])).toEqual([["a", "ok", undefined], ["b", "insufficient_quality", "too_short"]]);
  });

  it("reads each score's interval and the speaker-relative change as the prosody lane sends them", () => {
    const r = toProsody({
      transcription_id: "c",
      status: "ok",
      scores: { confidence: 70, stability: 55, affability: 40 },
      interval: { confidence: { low: 53, high: 87, half_width: 17, retest_sd: 8.68 }, stability: { low: 42.3, high: 67.7, half_width: 12.7, retest_sd: 6.48 } },
      relative: { earlier_utterances: 2, scores: { confidence: { baseline: 50, change: 20, threshold: 20.8, exceeds_noise: false }, affability: { baseline: 70, change: -30, threshold: 15.2, exceeds_noise: true } } },
    })!;
    expect(r.interval).toEqual({ confidence: { low: 53, high: 87, halfWidth: 17 }, stability: { low: 42.3, high: 67.7, halfWidth: 12.7 } });
    expect(r.relative).toEqual({
      earlierUtterances: 2,
      scores: { confidence: { baseline: 50, change: 20, threshold: 20.8, exceedsNoise: false }, affability: { baseline: 70, change: -30, threshold: 15.2, exceedsNoise: true } },
    });
    expect(toProsody({ transcription_id: "d", scores: { confidence: 1 }, interval: null, relative: null })).toMatchObject({ interval: undefined, relative: undefined });
  });

  it("reads the learned second opinion apart from the scores, and its failure", () => {
    const assumption = "assumption, not validated: dominance ~ confidence, valence ~ affability";
    const r = toProsody({
      transcription_id: "e", scores: { confidence: 70 },
      learned: { engine: "wav2vec2_msp_dim", licence: "CC-BY-NC-SA-4.0", assumption, values: { arousal: 0.41, dominance: 0.52, valence: 0.33 } },
    })!;
    expect(r.scores).toEqual({ confidence: 70 });
    expect(r.learned).toEqual({ engine: "wav2vec2_msp_dim", licence: "CC-BY-NC-SA-4.0", assumption, values: { arousal: 0.41, dominance: 0.52, valence: 0.33 }, error: undefined });
    const failed = toProsody({ transcription_id: "f", learned: { engine: "wav2vec2_msp_dim", licence: "x", assumption, error: "missing model weights", fix: "avatar models pull" } })!;
    expect(failed.learned?.values).toBeUndefined();
    expect(failed.learned?.error).toBe("missing model weights");
    expect(toProsody({ transcription_id: "g", learned: null })!.learned).toBeUndefined();
  });
});
