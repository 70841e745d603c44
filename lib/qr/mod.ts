/** QR codes for the terminal. What the other folders use of this one. */

export { encodeQr } from "./encode.ts";
export { renderQr } from "./render.ts";
