// Moved to ./meters/upload.ts; kept so existing imports keep working.
export { AudioUploadMeter, UploadTooLargeError } from './meters/upload.js';
