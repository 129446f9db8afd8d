// AudioWorklet: microphone samples (the context's rate, e.g. 48 kHz) → PCM16 mono at the
// target rate (16 kHz for speech input), posted to the page in frames of `frameMs`
// together with the frame's RMS level. Plain JavaScript: worklets load without bundling.

/** Downsamples by averaging each output sample's input span (a box low-pass filter). */
export class Downsampler {
  constructor(inputRate, targetRate) {
    this.ratio = inputRate / targetRate;
    this.position = 0; // fractional input position of the next output sample's start
    this.carry = [];
  }

  /** @param {Float32Array} input @returns {Float32Array} */
  process(input) {
    if (this.ratio === 1) return Float32Array.from(input);
    const samples = this.carry.length ? Float32Array.from([...this.carry, ...input]) : input;
    const out = [];
    let pos = this.position;
    while (pos + this.ratio <= samples.length) {
      const start = Math.floor(pos);
      const end = Math.max(start + 1, Math.floor(pos + this.ratio));
      let sum = 0;
      for (let i = start; i < end; i++) sum += samples[i];
      out.push(sum / (end - start));
      pos += this.ratio;
    }
    const keepFrom = Math.floor(pos);
    this.carry = Array.from(samples.subarray(keepFrom));
    this.position = pos - keepFrom;
    return Float32Array.from(out);
  }
}

export function toPcm16(floats) {
  const out = new Int16Array(floats.length);
  for (let i = 0; i < floats.length; i++) {
    const s = Math.max(-1, Math.min(1, floats[i]));
    out[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
  }
  return out;
}

if (typeof AudioWorkletProcessor !== "undefined") {
  class PcmProcessor extends AudioWorkletProcessor {
    constructor(options) {
      super();
      const opts = (options && options.processorOptions) || {};
      this.targetRate = opts.targetRate || 16000;
      this.frameSamples = Math.round((this.targetRate * (opts.frameMs || 40)) / 1000);
      this.downsampler = new Downsampler(sampleRate, this.targetRate);
      this.pending = new Int16Array(this.frameSamples);
      this.filled = 0;
      this.sumSquares = 0;
    }

    process(inputs) {
      const channel = inputs[0] && inputs[0][0];
      if (!channel) return true;
      const pcm = toPcm16(this.downsampler.process(channel));
      for (let i = 0; i < pcm.length; i++) {
        this.pending[this.filled++] = pcm[i];
        this.sumSquares += (pcm[i] / 32768) ** 2;
        if (this.filled === this.frameSamples) {
          const frame = this.pending;
          const level = Math.sqrt(this.sumSquares / this.frameSamples);
          this.port.postMessage({ pcm: frame.buffer, level }, [frame.buffer]);
          this.pending = new Int16Array(this.frameSamples);
          this.filled = 0;
          this.sumSquares = 0;
        }
      }
      return true;
    }
  }
  registerProcessor("pcm-processor", PcmProcessor);
}
