/** The microphone: getUserMedia (echo cancellation and noise suppression on) → the PCM
 * worklet → PCM16 frames at `targetRate`. */
import workletUrl from "./pcm-worklet.js?url";

export type MicProblem = "denied" | "nodevice" | "unsupported" | "error";

export class MicError extends Error {
  constructor(
    readonly problem: MicProblem,
    message: string,
  ) {
    super(message);
  }
}

export function micProblemOf(error: unknown): MicProblem {
  const name = error instanceof DOMException || error instanceof Error ? error.name : "";
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") return "denied";
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError" || name === "NotReadableError") {
    return "nodevice";
  }
  return "error";
}

export interface MicOptions {
  targetRate?: number;
  frameMs?: number;
  onFrame: (pcm: ArrayBuffer) => void;
  onLevel?: (rms: number) => void;
}

export class Microphone {
  private context: AudioContext | null = null;
  private stream: MediaStream | null = null;
  private node: AudioWorkletNode | null = null;

  get active(): boolean {
    return this.stream !== null;
  }

  async start({ targetRate = 16000, frameMs = 40, onFrame, onLevel }: MicOptions): Promise<void> {
    if (!navigator.mediaDevices?.getUserMedia || typeof AudioWorkletNode === "undefined") {
      throw new MicError("unsupported", "此瀏覽器不支援麥克風錄音（microphone not supported）");
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
    } catch (error) {
      this.stream = null;
      throw new MicError(micProblemOf(error), error instanceof Error ? error.message : String(error));
    }
    try {
      this.context = new AudioContext();
      await this.context.audioWorklet.addModule(workletUrl);
      const source = this.context.createMediaStreamSource(this.stream);
      this.node = new AudioWorkletNode(this.context, "pcm-processor", {
        numberOfInputs: 1,
        numberOfOutputs: 0,
        channelCount: 1,
        processorOptions: { targetRate, frameMs },
      });
      this.node.port.onmessage = (event: MessageEvent<{ pcm: ArrayBuffer; level: number }>) => {
        onLevel?.(event.data.level);
        onFrame(event.data.pcm);
      };
      source.connect(this.node);
      if (this.context.state === "suspended") await this.context.resume();
    } catch (error) {
      this.stop();
      throw new MicError("error", error instanceof Error ? error.message : String(error));
    }
  }

  stop(): void {
    this.node?.port.close();
    this.node?.disconnect();
    this.node = null;
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
    void this.context?.close().catch(() => undefined);
    this.context = null;
  }
}

export const MIC_PROBLEM_TEXT: Record<MicProblem, string> = {
  denied: "麥克風權限被拒絕。請在瀏覽器網址列旁的權限設定中允許使用麥克風，再按一次。",
  nodevice: "找不到麥克風裝置。請接上麥克風後再試。",
  unsupported: "此瀏覽器不支援麥克風錄音，請改用最新版 Chrome、Edge 或 Firefox。",
  error: "無法啟動麥克風，請再試一次。",
};
