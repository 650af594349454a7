import { describe, expect, it } from "vitest";

import { userInput } from "../src/lib/rpc/turns";
import {
  dataUrlLength,
  firstAttempt,
  fitImages,
  fitWithin,
  FRAME_MARGIN_BYTES,
  ImageError,
  imageBudget,
  jsonBytes,
  MAX_EDGE,
  MAX_FRAME_BYTES,
  MIN_EDGE,
  nextAttempt,
} from "../src/lib/thread/images";

describe("image scaling arithmetic", () => {
  it("fits the longer side within the maximum, keeping the aspect ratio, never enlarging", () => {
    expect(fitWithin({ width: 4032, height: 3024 })).toEqual({ width: MAX_EDGE, height: 1536 });
    expect(fitWithin({ width: 1000, height: 5000 }, 1000)).toEqual({ width: 200, height: 1000 });
    expect(fitWithin({ width: 640, height: 480 })).toEqual({ width: 640, height: 480 });
  });

  it("measures data URLs exactly", () => {
    const bytes = 1000;
    const url = `data:image/jpeg;base64,${btoa("\0".repeat(bytes))}`;
    expect(dataUrlLength("image/jpeg", bytes)).toBe(url.length);
  });

  it("shares the frame's room among the images, after the text and envelope", () => {
    const other = 10_000;
    expect(imageBudget(other, 2)).toBe(Math.floor((MAX_FRAME_BYTES - FRAME_MARGIN_BYTES - other) / 2));
    expect(imageBudget(other, 0)).toBe(0);
    expect(imageBudget(MAX_FRAME_BYTES, 1)).toBe(0);
  });

  it("converges under the budget in a few attempts, and gives up rather than make a smudge", () => {
    // A model encoder: bytes proportional to pixels, scaled by quality.
    const encode = (a: { width: number; height: number; quality: number }) =>
      dataUrlLength("image/webp", Math.round(a.width * a.height * a.quality * 0.6));
    const budget = 300_000;
    let attempt = firstAttempt({ width: 4032, height: 3024 });
    let tries = 1;
    while (encode(attempt) > budget) {
      const next = nextAttempt(attempt, encode(attempt), budget);
      expect(next).not.toBeNull();
      expect(next!.width).toBeLessThan(attempt.width);
      expect(next!.width / next!.height).toBeCloseTo(4032 / 3024, 1);
      attempt = next!;
      tries++;
    }
    expect(tries).toBeLessThanOrEqual(4);
    expect(nextAttempt({ width: MIN_EDGE, height: MIN_EDGE, quality: 0.5 }, 10_000_000, 1000)).toBeNull();
  });

  it("keeps attached images as they are when the turn/start frame fits", async () => {
    const source = new Blob(["x"]);
    const images = [{ url: `data:image/png;base64,${"A".repeat(400_000)}`, source }];
    const frame = (urls: string[]) =>
      jsonBytes({ id: Number.MAX_SAFE_INTEGER, method: "turn/start", params: { threadId: "t", input: userInput("hi", urls), anchorId: "a" } });
    expect(await fitImages(images, frame)).toEqual([images[0]!.url]);
  });

  it("refuses a message whose text alone is over the frame limit", async () => {
    const text = "é".repeat(MAX_FRAME_BYTES / 2);
    const frame = (urls: string[]) => jsonBytes({ params: { input: userInput(text, urls) } });
    await expect(fitImages([{ url: "data:,", source: new Blob() }], frame)).rejects.toBeInstanceOf(ImageError);
  });
});

describe("turn/start input", () => {
  it("is the text with text_elements, then the images as data URLs", () => {
    expect(userInput("hello", ["data:image/webp;base64,AAAA"])).toEqual([
      { type: "text", text: "hello", text_elements: [] },
      { type: "image", url: "data:image/webp;base64,AAAA" },
    ]);
    expect(userInput("  ", ["data:x"])).toEqual([{ type: "image", url: "data:x" }]);
  });
});
