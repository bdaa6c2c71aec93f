// The camera scanner: getUserMedia frames decoded by the browser's BarcodeDetector when
// it has one (Android Chrome), otherwise by zxing-wasm (Chromium on Linux, Firefox),
// whose script and .wasm are served from vendor/ here, never from a CDN.
// A code is reported once; the same code again counts only after DEBOUNCE_MS without it
// in view, so holding the camera on a label does not scan it ten times.
"use strict";

window.Camera = (function () {
  const VENDOR = new URL("vendor/", document.baseURI).href;
  const FRAME_MS = 150;
  const DEBOUNCE_MS = 1500;
  const FORMATS = ["EAN13", "EAN8", "UPCA", "UPCE", "Code128", "Code39", "ITF", "DataMatrix", "QRCode"];
  const GS1_PREFIXES = ["]C1", "]d2"];   // the AIM prefixes the server accepts for GS1

  let zxingReady = null;

  function loadZxing() {
    if (!zxingReady) {
      zxingReady = new Promise((resolve, reject) => {
        const s = document.createElement("script");
        s.src = VENDOR + "zxing-wasm-reader.js";
        s.onload = () => {
          // fireImmediately: fetch and compile the .wasm now, not at the first frame
          window.ZXingWASM.prepareZXingModule({
            overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? VENDOR + path : prefix + path) },
            fireImmediately: true,
          }).then(() => resolve(window.ZXingWASM), (e) => { zxingReady = null; reject(e); });
        };
        s.onerror = () => { zxingReady = null; reject(new Error("zxing-wasm did not load")); };
        document.head.appendChild(s);
      });
    }
    return zxingReady;
  }

  /** Format names as the rest of wavepack spells them: EAN13, CODE128, DATAMATRIX… */
  function formatName(name) {
    return String(name || "").toUpperCase().replace(/[^A-Z0-9]/g, "") || null;
  }

  async function makeDecoder() {
    if ("BarcodeDetector" in window) {
      const detector = new window.BarcodeDetector();
      return async (canvas) => (await detector.detect(canvas)).map(
        (b) => ({ text: b.rawValue, symbology: formatName(b.format) }));
    }
    const zx = await loadZxing();
    return async (canvas) => {
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const results = await zx.readBarcodes(image, {
        formats: FORMATS, tryHarder: true, maxNumberOfSymbols: 1, textMode: "Plain",
      });
      return results.filter((r) => r.isValid && r.text).map((r) => {
        const aim = r.symbologyIdentifier;
        const gs1 = r.contentType === "GS1" && GS1_PREFIXES.includes(aim);
        return { text: gs1 && !r.text.startsWith("]") ? aim + r.text : r.text,
                 symbology: formatName(r.format) };
      });
    };
  }

  /** Start reading from the back camera into `video`; onCode({text, symbology}) per new code.
   *  Resolves to a stop() function. */
  async function start(video, onCode) {
    const stream = await navigator.mediaDevices.getUserMedia(
      { video: { facingMode: "environment", width: { ideal: 1280 } }, audio: false });
    video.srcObject = stream;
    await video.play();
    const decode = await makeDecoder();
    const canvas = document.createElement("canvas");
    const seen = new Map();   // text → last time it was in view
    let stopped = false;
    let timer = null;

    async function frame() {
      if (stopped) return;
      if (video.videoWidth) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        canvas.getContext("2d", { willReadFrequently: true }).drawImage(video, 0, 0);
        try {
          const now = Date.now();
          for (const code of await decode(canvas)) {
            const last = seen.get(code.text);
            seen.set(code.text, now);
            if (last === undefined || now - last > DEBOUNCE_MS) onCode(code);
          }
        } catch (err) {
          console.warn("decode failed", err);
        }
      }
      timer = setTimeout(frame, FRAME_MS);
    }
    frame();

    return function stop() {
      stopped = true;
      clearTimeout(timer);
      stream.getTracks().forEach((tr) => tr.stop());
      video.srcObject = null;
    };
  }

  return { start, loadZxing, makeDecoder };
})();
