// S3 client settings from the environment, read once at the edge (the CLI).
import type { ChecksumSetting } from '../ufs/index.js';

/** S3 client settings from the environment, for every s3:// source (credentials come from the SDK's own chain). */
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): { requestChecksumCalculation?: ChecksumSetting; responseChecksumValidation?: ChecksumSetting; forcePathStyle?: boolean } {
  const checksums = env['WHARF_S3_CHECKSUMS'];
  const setting = checksums === 'WHEN_REQUIRED' || checksums === 'WHEN_SUPPORTED' ? checksums : undefined;
  return {
    ...(setting ? { requestChecksumCalculation: setting, responseChecksumValidation: setting } : {}),
    ...(env['WHARF_S3_PATH_STYLE'] !== undefined ? { forcePathStyle: env['WHARF_S3_PATH_STYLE'] !== 'false' } : {}),
  };
}
