import { render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { toVoiceProfile, waitForAnalysis } from "../lib/api";
import { saveOwner } from "../lib/storage";
import type { VoiceProfile } from "../lib/types";
import { VoiceItem } from "./VoiceItem";
import { VoicePanel } from "./VoicePanel";

const voice = (patch: Partial<VoiceProfile> = {}): VoiceProfile => ({ id: "v1", name: "我的聲音", status: "ready", ...patch });

/** A server that answers each GET of the voice list or of one voice from `states`, in order. */
function serve(states: Record<string, unknown>[]) {
  let i = 0;
  const fetch = vi.fn(async (path: string) => {
    const state = states[Math.min(i, states.length - 1)];
    i += 1;
    const body = path.endsWith("/voice-profiles") ? [state] : state;
    return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
  });
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

beforeEach(() => {
  saveOwner({ owner_id: "o1", owner_token: "o1.token" }); // the page got its credential earlier
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("voice status", () => {
  it("reads the server's status; a profile without one is ready", () => {
    expect(toVoiceProfile({ profile_id: "a", name: "x", status: "processing" })?.status).toBe("processing");
    expect(toVoiceProfile({ profile_id: "a", name: "x" })?.status).toBe("ready");
    const failed = toVoiceProfile({ profile_id: "a", status: "failed", error: { code: "VOICE_TOO_SHORT", message: "太短" } });
    expect(failed?.error).toEqual({ code: "VOICE_TOO_SHORT", message: "太短" });
  });

  it("shows a voice being analysed as 處理中, not selectable and not previewable", () => {
    render(<VoiceItem profile={voice({ status: "processing" })} selected={false} onSelect={() => {}} onDelete={async () => {}} />);
    expect(screen.getByTestId("voice-status")).toHaveTextContent("處理中");
    expect(screen.getByRole("radio")).toBeDisabled();
    expect(screen.getByRole("button", { name: /試聽/ })).toBeDisabled();
  });

  it("shows why the analysis failed", () => {
    const failed = voice({ status: "failed", error: { code: "VOICE_MOSTLY_SILENCE", message: "錄音大多是靜音" } });
    render(<VoiceItem profile={failed} selected={false} onSelect={() => {}} onDelete={async () => {}} />);
    expect(screen.getByTestId("voice-failed")).toHaveTextContent("錄音大多是靜音");
    expect(screen.getByTestId("voice-failed")).toHaveAttribute("data-code", "VOICE_MOSTLY_SILENCE");
    expect(screen.getByRole("radio")).toBeDisabled();
  });

  it("polls until the analysis ends", async () => {
    const fetch = serve([{ profile_id: "v1", status: "processing" }, { profile_id: "v1", status: "processing" }, { profile_id: "v1", status: "ready" }]);
    const done = await waitForAnalysis("v1", { pollMs: 1, timeoutMs: 5000 });
    expect(done.status).toBe("ready");
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(fetch.mock.calls[0][0]).toBe("/api/v1/voice-profiles/v1");
  });

  it("gives up with a message when the analysis takes too long", async () => {
    serve([{ profile_id: "v1", status: "processing" }]);
    await expect(waitForAnalysis("v1", { pollMs: 5, timeoutMs: 20 })).rejects.toThrow("仍未完成");
  });

  it("the panel lists a processing voice and makes it selectable once ready", async () => {
    // The analysis ends only when the test says so: the page polls at once, and an answer
    // that came back immediately could replace 處理中 before the test looked (a flaky run).
    let finish: () => void = () => {};
    const analysed = new Promise<void>((resolve) => (finish = resolve));
    const fetch = vi.fn(async (path: string) => {
      if (path.endsWith("/voice-profiles")) {
        return Response.json([{ profile_id: "v1", name: "我的聲音", status: "processing" }]);
      }
      await analysed;
      return Response.json({ profile_id: "v1", name: "我的聲音", status: "ready", url: "/ref.wav" });
    });
    vi.stubGlobal("fetch", fetch);
    render(<VoicePanel connected={false} setMode={async () => ({ ok: true })} />);
    expect(await screen.findByText("處理中")).toBeInTheDocument();
    expect(screen.getByRole("radio", { name: /我的聲音/ })).toBeDisabled();
    finish();
    await waitFor(() => expect(screen.getByTestId("voice-item")).toHaveAttribute("data-status", "ready"), { timeout: 3000 });
    expect(screen.getByRole("radio", { name: /我的聲音/ })).toBeEnabled();
    expect(screen.queryByTestId("voice-unavailable")).toBeNull();
  });
});
