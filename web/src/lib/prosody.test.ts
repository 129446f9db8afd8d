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
