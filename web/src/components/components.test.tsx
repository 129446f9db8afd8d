import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { encodeWav } from "../lib/wav";
import { newTurn } from "../state/chatReducer";
import type { ProsodyResult, Turn } from "../lib/types";
import { Composer } from "./Composer";
import { ConnectionStatus } from "./ConnectionStatus";
import { ModeSelector } from "./ModeSelector";
import { ProsodyDetail } from "./ProsodyDetail";
import { ProsodyTrend } from "./ProsodyTrend";
import { SideTabs } from "./SideTabs";
import { Toasts } from "./Toasts";
import { TurnView } from "./TurnView";
import { VoiceUpload } from "./VoiceUpload";

const turn = (patch: Partial<Turn> = {}): Turn => newTurn("t", 0, { serverId: "t", userText: "你好", ...patch });

describe("TurnView", () => {
  it("shows the typing indicator until tokens arrive", () => {
    render(<TurnView turn={turn()} onOpenProsody={() => {}} onBeforeReplay={() => {}} />);
    expect(screen.getByTestId("typing")).toBeInTheDocument();
    expect(screen.getByTestId("turn-status")).toHaveTextContent("思考中");
  });

  it("shows the reply, the latency strip, and replays the HQ audio once it is ready", () => {
    const audio = [{ seq: 0, audio: encodeWav(new Int16Array(160), 16000), durationMs: 10, text: "你好", mode: "fast" }];
    render(
      <TurnView
        turn={turn({ reply: "你好！", status: "done", audio, latency: { firstTokenMs: 420, firstAudioMs: 1250, totalMs: 3000 }, hq: { url: "/hq.wav" } })}
        onOpenProsody={() => {}}
        onBeforeReplay={() => {}}
      />,
    );
    expect(screen.getByTestId("reply-text")).toHaveTextContent("你好！");
    expect(screen.getByTestId("latency")).toHaveTextContent("首字420 ms");
    expect(screen.getByTestId("latency")).toHaveTextContent("首段語音1.25 s");
    expect(screen.getByTestId("hq-badge")).toHaveTextContent("HQ");
    expect(screen.getByTestId("replay-audio")).toHaveAttribute("src", "/hq.wav");
    expect(screen.getByRole("button", { name: "重播（高品質）" })).toBeInTheDocument();
  });

  it("shows the speech-end → transcript figure only for spoken turns", () => {
    render(<TurnView turn={turn({ source: "voice", latency: { transcriptMs: 310 } })} onOpenProsody={() => {}} onBeforeReplay={() => {}} />);
    expect(screen.getByTestId("latency")).toHaveTextContent("語音→文字310 ms");
  });
});

describe("Composer", () => {
  it("sends on Enter and clears; keeps the text when sending fails", async () => {
    const onSend = vi.fn().mockResolvedValueOnce(true).mockResolvedValueOnce(false);
    render(<Composer disabled={false} onSend={onSend} />);
    const box = screen.getByLabelText("訊息");
    await userEvent.type(box, "早安{Enter}");
    expect(onSend).toHaveBeenCalledWith("早安");
    await waitFor(() => expect(box).toHaveValue(""));
    await userEvent.type(box, "再一次{Enter}");
    await waitFor(() => expect(box).toHaveValue("再一次"));
  });

  it("explains a message that is too long and will not send it", () => {
    const onSend = vi.fn();
    render(<Composer disabled={false} onSend={onSend} />);
    fireEvent.change(screen.getByLabelText("訊息"), { target: { value: "字".repeat(2001) } });
    expect(screen.getByRole("alert")).toHaveTextContent("訊息過長");
    expect(screen.getByRole("button", { name: "送出" })).toBeDisabled();
  });
});

describe("VoiceUpload", () => {
  it("shows an inline error for a file that is not audio", async () => {
    render(<VoiceUpload candidate={null} onCandidate={() => {}} onUploaded={() => {}} />);
    const file = new File(["hello"], "notes.txt", { type: "text/plain" });
    fireEvent.change(screen.getByTestId("voice-file"), { target: { files: [file] } });
    expect(await screen.findByTestId("voice-error")).toHaveTextContent("不支援的檔案格式");
  });

  it("asks for a sample before uploading", async () => {
    render(<VoiceUpload candidate={null} onCandidate={() => {}} onUploaded={() => {}} />);
    await userEvent.type(screen.getByTestId("voice-name"), "我");
    await userEvent.click(screen.getByTestId("voice-submit"));
    expect(screen.getByTestId("voice-error")).toHaveTextContent("請先選擇或錄製");
  });
});

describe("ModeSelector", () => {
  it("offers fast, HQ and both, and shows the server's refusal", async () => {
    const onChange = vi.fn();
    render(<ModeSelector mode="fast" disabled={false} error="無法切換：不支援" onChange={onChange} />);
    await userEvent.click(screen.getByRole("radio", { name: /先快後美/ }));
    expect(onChange).toHaveBeenCalledWith("both");
    expect(screen.getByTestId("mode-error")).toHaveTextContent("不支援");
  });
});

describe("ProsodyDetail", () => {
  it("shows the three scores and the top contributions per score", () => {
    const result: ProsodyResult = {
      transcriptionId: "a",
      scores: { confidence: 72.4, stability: 61, affability: 80 },
      quality: "ok",
      contributions: [
        { feature: "loudness_mean", value: 0.8, score: "confidence" },
        { feature: "pause_ratio", value: -0.5, score: "confidence" },
        { feature: "jitter_local", value: -0.3, score: "stability" },
      ],
    };
    render(<ProsodyDetail result={result} utterance="今天天氣很好" />);
    expect(screen.getByTestId("prosody-scores")).toHaveTextContent("自信72");
    expect(screen.getAllByTestId("contributions")[0]).toHaveTextContent("loudness_mean+0.80");
    expect(screen.getAllByTestId("contributions")[0]).toHaveTextContent("pause_ratio-0.50");
  });

  it("shows each score's interval and, from the third utterance, the change against the speaker's own", () => {
    const result: ProsodyResult = {
      transcriptionId: "c",
      scores: { confidence: 70, stability: 55, affability: 40 },
      quality: "ok",
      contributions: [],
      interval: { confidence: { low: 53, high: 87, halfWidth: 17 }, stability: { low: 42, high: 68, halfWidth: 13 }, affability: { low: 28, high: 52, halfWidth: 12 } },
      relative: { earlierUtterances: 2, scores: { confidence: { baseline: 50, change: 20, threshold: 21, exceedsNoise: false }, affability: { baseline: 70, change: -30, threshold: 15, exceedsNoise: true } } },
    };
    render(<ProsodyDetail result={result} />);
    const confidence = screen.getByTestId("prosody-scores").querySelector('[data-score="confidence"]')!;
    expect(confidence).toHaveTextContent("70±17");
    expect(confidence).toHaveTextContent("比你平常 +20（在誤差內）");
    const affability = screen.getByTestId("prosody-scores").querySelector('[data-score="affability"]')!;
    expect(affability).toHaveTextContent("比你平常 −30（明顯）");
    expect(screen.getByTestId("prosody-scores").querySelector('[data-score="stability"] [data-testid="score-change"]')).toBeNull();
  });

  it("shows the learned second opinion on its own line, labelled as outside the scores", () => {
    const result: ProsodyResult = {
      transcriptionId: "l", scores: { confidence: 70, stability: 55, affability: 40 }, quality: "ok", contributions: [],
      learned: { engine: "wav2vec2_msp_dim", licence: "CC-BY-NC-SA-4.0", assumption: "assumption, not validated", values: { arousal: 0.41, dominance: 0.5, valence: 0.33 } },
    };
    render(<ProsodyDetail result={result} />);
    const line = screen.getByTestId("learned-opinion");
    expect(line).toHaveTextContent("不計入分數");
    expect(line).toHaveTextContent("激動 0.41 · 支配 0.50 · 正向 0.33");
    expect(line).toHaveAttribute("title", "assumption, not validated");
    expect(screen.getByTestId("prosody-scores")).not.toHaveTextContent("0.41");
  });

  it("draws the trend with an error bar per point when the results carry intervals", () => {
    const point = (id: string, value: number): ProsodyResult => ({
      transcriptionId: id, quality: "ok", contributions: [],
      scores: { confidence: value, stability: value, affability: value },
      interval: { confidence: { low: value - 10, high: value + 10, halfWidth: 10 }, stability: { low: value - 8, high: value + 8, halfWidth: 8 }, affability: { low: value - 6, high: value + 6, halfWidth: 6 } },
    });
    const { container } = render(<ProsodyTrend results={[point("a", 40), point("b", 60)]} />);
    expect(container.querySelectorAll(".recharts-errorBar").length).toBe(6); // 3 scores x 2 points
    expect(screen.getByTestId("prosody-trend")).toHaveTextContent("95% 重測區間");
  });

  it("explains an utterance the quality gate refused", () => {
    render(<ProsodyDetail result={{ transcriptionId: "b", quality: "insufficient_quality", qualityReason: "雜訊過多", contributions: [] }} />);
    expect(screen.getByTestId("prosody-detail")).toHaveTextContent("無法評分：雜訊過多");
  });
});

describe("connection, toasts and tabs", () => {
  it("shows reconnection with a retry button", async () => {
    const onRetry = vi.fn();
    render(<ConnectionStatus state={{ kind: "reconnecting", attempt: 2, inMs: 1800 }} onRetry={onRetry} />);
    expect(screen.getByTestId("connection")).toHaveTextContent("第 2 次，2 秒後重試");
    await userEvent.click(screen.getByRole("button", { name: "立即重試" }));
    expect(onRetry).toHaveBeenCalled();
  });

  it("shows an error toast with its code and closes it", async () => {
    const onDismiss = vi.fn();
    render(<Toasts toasts={[{ id: 1, code: "ENGINE_UNAVAILABLE", message: "模型未下載", tone: "error" }]} onDismiss={onDismiss} />);
    expect(screen.getByRole("alert")).toHaveTextContent("ENGINE_UNAVAILABLE模型未下載");
    await userEvent.click(screen.getByRole("button", { name: "關閉通知" }));
    expect(onDismiss).toHaveBeenCalledWith(1);
  });

  it("moves between tabs with the arrow keys", async () => {
    const onChange = vi.fn();
    render(<SideTabs active="a" onChange={onChange} tabs={[{ id: "a", label: "聲音", content: "A" }, { id: "b", label: "韻律報告", content: "B" }]} />);
    screen.getByRole("tab", { name: "聲音" }).focus();
    await userEvent.keyboard("{ArrowRight}");
    expect(onChange).toHaveBeenCalledWith("b");
  });
});
