import { describe, expect, it } from "vitest";
import { Downsampler, toPcm16 } from "./pcm-worklet.js";

describe("the microphone worklet's downsampler", () => {
  it("turns 48 kHz into 16 kHz across render quanta without losing samples", () => {
    const d = new Downsampler(48000, 16000);
    let out = 0;
    for (let i = 0; i < 375; i++) out += d.process(new Float32Array(128)).length; // 1 s in 128-sample quanta
    expect(out).toBe(16000);
  });

  it("keeps a 440 Hz tone at 440 Hz (zero crossings) and handles 44.1 kHz", () => {
    const rate = 44100;
    const tone = Float32Array.from({ length: rate }, (_, i) => Math.sin((2 * Math.PI * 440 * i) / rate));
    const out: Float32Array = new Downsampler(rate, 16000).process(tone);
    expect(Math.abs(out.length - 16000)).toBeLessThanOrEqual(1);
    let crossings = 0;
    for (let i = 1; i < out.length; i++) if (out[i - 1]! < 0 !== out[i]! < 0) crossings++;
    expect(Math.abs(crossings - 880)).toBeLessThanOrEqual(4);
    expect(Array.from(toPcm16(Float32Array.from([0.5]))) as number[]).toEqual([16383]);
  });
});
