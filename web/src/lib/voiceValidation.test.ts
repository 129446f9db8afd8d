import { describe, expect, it } from "vitest";
import { durationProblem, fileProblem, nameProblem } from "./voiceValidation";

describe("voice sample checks", () => {
  it("accepts the listed formats and explains the rest", () => {
    expect(fileProblem({ name: "a.m4a", size: 1000, type: "" })).toBeNull();
    expect(fileProblem({ name: "notes.txt", size: 10, type: "text/plain" })).toMatch(/不支援的檔案格式/);
    expect(fileProblem({ name: "a.wav", size: 21 * 1024 * 1024, type: "audio/wav" })).toMatch(/上限 20 MB/);
  });

  it("wants 5 to 30 seconds and a name", () => {
    expect(durationProblem(3.2)).toMatch(/太短/);
    expect(durationProblem(31)).toMatch(/太長/);
    expect(durationProblem(12)).toBeNull();
    expect(durationProblem(undefined)).toBeNull();
    expect(nameProblem("  ")).toMatch(/名稱/);
  });
});
