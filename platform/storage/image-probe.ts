import { imageSize } from 'image-size';
import type { ImageMeasure } from '../../domain/media/assets';

/**
 * An image's dimensions from its first bytes, by image-size (magic bytes and the format's own
 * header, never the type a client claimed); null when the header cannot be read.
 */
export function measureImage(header: Uint8Array): ImageMeasure | null {
  try {
    const size = imageSize(header);
    if (!size.width || !size.height) return null;
    return { width: size.width, height: size.height, ...(size.orientation !== undefined ? { orientation: size.orientation } : {}) };
  } catch {
    return null;
  }
}
