/** Just enough RIFF/WAV: read a PCM WAV's format and samples, write one, join several. */

export interface WavInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  format: number;
  data: Uint8Array;
}

export function parseWav(buffer: ArrayBuffer): WavInfo | null {
  const view = new DataView(buffer);
  const tag = (offset: number) =>
    String.fromCharCode(view.getUint8(offset), view.getUint8(offset + 1), view.getUint8(offset + 2), view.getUint8(offset + 3));
  if (buffer.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") return null;
  let offset = 12;
  let fmt: Omit<WavInfo, "data"> | null = null;
  while (offset + 8 <= buffer.byteLength) {
    const id = tag(offset);
    let size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === "fmt ") {
      fmt = {
        format: view.getUint16(body, true),
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        bitsPerSample: view.getUint16(body + 14, true),
      };
    } else if (id === "data" && fmt) {
      // streamed WAVs may carry 0 or 0xFFFFFFFF as the size: take what is there
      if (size === 0 || body + size > buffer.byteLength) size = buffer.byteLength - body;
      return { ...fmt, data: new Uint8Array(buffer, body, size) };
    }
    offset = body + size + (size % 2);
  }
  return null;
}

export function encodeWav(samples: Int16Array, sampleRate: number, channels = 1): ArrayBuffer {
  return wavFromBytes(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength), sampleRate, channels, 16);
}

function wavFromBytes(data: Uint8Array, sampleRate: number, channels: number, bits: number, format = 1): ArrayBuffer {
  const out = new ArrayBuffer(44 + data.byteLength);
  const view = new DataView(out);
  const write = (offset: number, text: string) => [...text].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  const blockAlign = (channels * bits) / 8;
  write(0, "RIFF");
  view.setUint32(4, 36 + data.byteLength, true);
  write(8, "WAVE");
  write(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, format, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * blockAlign, true);
  view.setUint16(32, blockAlign, true);
  view.setUint16(34, bits, true);
  write(36, "data");
  view.setUint32(40, data.byteLength, true);
  new Uint8Array(out, 44).set(data);
  return out;
}

/** One WAV holding several in order, when they share a format (else null). */
export function concatWavs(buffers: ArrayBuffer[]): ArrayBuffer | null {
  const parts = buffers.map(parseWav);
  if (!parts.length || parts.some((p) => p === null)) return null;
  const first = parts[0]!;
  if (parts.some((p) => p!.sampleRate !== first.sampleRate || p!.channels !== first.channels || p!.bitsPerSample !== first.bitsPerSample || p!.format !== first.format)) {
    return null;
  }
  const total = parts.reduce((n, p) => n + p!.data.byteLength, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    joined.set(p!.data, at);
    at += p!.data.byteLength;
  }
  return wavFromBytes(joined, first.sampleRate, first.channels, first.bitsPerSample, first.format);
}

/** Float samples in [-1, 1] to PCM16 (clipped). */
export function floatToPcm16(input: Float32Array): Int16Array {
  const out = new Int16Array(input.length);
  for (let i = 0; i < input.length; i++) {
    const s = Math.max(-1, Math.min(1, input[i]!));
    out[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
  }
  return out;
}
