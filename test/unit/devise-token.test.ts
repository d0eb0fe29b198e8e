import { pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deviseDigest, deviseKey, friendlyToken, newDeviseResetToken } from '../../src/store/devise/token.js';

// CONTRACT.md, "Host schemas": known answers checked against Devise 4.8.1.
const secret = 'a'.repeat(128);
const raw = 'abcDEF123ghiJKL456mn';

describe('Devise token digest', () => {
  it('matches the known answers for both key digests', () => {
    expect(deviseDigest({ secret, keyDigest: 'sha1' }, 'reset_password_token', raw)).toBe('5c566f7ce19d408b8302fc55eca9f6b339f2a009e4c827a3245047a699ba0a04');
    expect(deviseDigest({ secret, keyDigest: 'sha256' }, 'reset_password_token', raw)).toBe('165731e18e6149560fb0ca4df385f0dfe6825d466e13524058959f28ae76dfd8');
  });

  it('derives one key per secret, digest and column, and derives it once', () => {
    const sha1 = deviseKey({ secret, keyDigest: 'sha1' }, 'reset_password_token');
    expect(sha1).toEqual(pbkdf2Sync(secret, 'Devise reset_password_token', 65536, 64, 'sha1'));
    expect(deviseKey({ secret, keyDigest: 'sha1' }, 'reset_password_token')).toBe(sha1);
    expect(deviseKey({ secret, keyDigest: 'sha256' }, 'reset_password_token')).not.toEqual(sha1);
    expect(deviseKey({ secret, keyDigest: 'sha1' }, 'unlock_token')).toEqual(pbkdf2Sync(secret, 'Devise unlock_token', 65536, 64, 'sha1'));
    expect(deviseKey({ secret: `${secret}b`, keyDigest: 'sha1' }, 'reset_password_token')).not.toEqual(sha1);
  });

  it('makes raw tokens the way Devise.friendly_token does: 20 URL-safe characters without l, I, O or 0', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const token = friendlyToken();
      expect(token).toMatch(/^[A-HJ-NP-Za-km-z1-9_][A-HJ-NP-Za-km-z1-9_-]{19}$/); // never a leading '-': it would read as an option
      seen.add(token);
    }
    expect(seen.size).toBe(2000);
    expect(friendlyToken(32)).toHaveLength(32);
    expect(() => friendlyToken(16)).toThrow(/at least 20/);
    const { raw: fresh, digest } = newDeviseResetToken({ secret, keyDigest: 'sha256' });
    expect(digest).toBe(deviseDigest({ secret, keyDigest: 'sha256' }, 'reset_password_token', fresh));
  });
});

describe('hmis-admin db devise-digest', () => {
  it("prints CONTRACT's known answers for both key digests, and refuses (exit 2) without a secret", async () => {
    const { cli } = await import('../helpers/cli.js');
    const secret = 'a'.repeat(128);
    const r = await cli(['db', 'devise-digest', 'abcDEF123ghiJKL456mn', '--json'], { env: { HMIS_DEVISE_SECRET: secret } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({
      word: 'abcDEF123ghiJKL456mn',
      sha1: '5c566f7ce19d408b8302fc55eca9f6b339f2a009e4c827a3245047a699ba0a04',
      sha256: '165731e18e6149560fb0ca4df385f0dfe6825d466e13524058959f28ae76dfd8',
      configured: 'sha1',
    });
    const none = await cli(['db', 'devise-digest']);
    expect([none.code, none.stdout]).toEqual([2, '']);
    expect(none.stderr).toMatch(/HMIS_DEVISE_SECRET_FILE \(or HMIS_DEVISE_SECRET\) is not set/);
  });
});
