import { describe, expect, it } from "vitest";
import { concatWavs, encodeWav, floatToPcm16, parseWav } from "./wav";

describe("wav", () => {
  it("writes a WAV that parses back, and joins WAVs of one format", () => {
    const a = encodeWav(Int16Array.from([1, 2, 3]), 16000);
    const b = encodeWav(Int16Array.from([4, 5]), 16000);
    expect(parseWav(a)).toMatchObject({ sampleRate: 16000, channels: 1, bitsPerSample: 16 });
    const joined = parseWav(concatWavs([a, b])!)!;
    expect(Array.from(new Int16Array(joined.data.slice().buffer))).toEqual([1, 2, 3, 4, 5]);
  });

  it("refuses to join different formats, and rejects what is not a WAV", () => {
    expect(concatWavs([encodeWav(new Int16Array(2), 16000), encodeWav(new Int16Array(2), 22050)])).toBeNull();
    expect(parseWav(new ArrayBuffer(20))).toBeNull();
  });

  it("clips floats to PCM16", () => {
    expect(Array.from(floatToPcm16(Float32Array.from([0, 1, -1, 2])))).toEqual([0, 32767, -32768, 32767]);
  });
});
