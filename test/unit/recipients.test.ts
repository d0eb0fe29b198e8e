/** Per-recipient bookkeeping of one attempt: who has the message, who waits, who was refused for good. */
import { describe, expect, it } from 'vitest';
import { initialRecipients } from '../../src/db/outbox.js';
import { applyAttempt, giveUp, reportOfError, reportOfResult, rowStatus } from '../../src/mail/recipients.js';

const three = () => initialRecipients('u@a.org', ['Boss@a.org', 'ed@a.org', 'boss@a.org']);

describe('applyAttempt', () => {
  it('lists each address once, to first; cc duplicates in another case are dropped', () => {
    expect(three().map((r) => [r.address, r.role, r.status])).toEqual([['u@a.org', 'to', 'pending'], ['Boss@a.org', 'cc', 'pending'], ['ed@a.org', 'cc', 'pending']]);
  });

  it('accepted → sent, 4xx → still pending, 5xx → failed; addresses compare in any case', () => {
    const report = reportOfResult({
      accepted: ['U@A.org'],
      rejected: ['boss@a.org', 'ed@a.org'],
      refusals: [{ address: 'boss@a.org', code: 451, response: '451 busy' }, { address: 'ED@a.org', code: 550, response: '550 no such user' }],
      response: '250 OK',
    });
    const a = applyAttempt(three(), ['u@a.org', 'Boss@a.org', 'ed@a.org'], report);
    expect(a.recipients.map((r) => [r.status, r.response])).toEqual([['sent', '250 OK'], ['pending', '451 busy'], ['failed', '550 no such user']]);
    expect([a.accepted.length, a.deferred.length, a.refused.length]).toEqual([1, 1, 1]);
    expect(rowStatus(a.recipients)).toBe('pending');
    expect(rowStatus(giveUp(a.recipients, 'gave up after 10 attempts'))).toBe('failed');
  });

  it('a rejected address without a reason, or one the relay said nothing about, is retried, never assumed delivered', () => {
    const a = applyAttempt(three(), ['u@a.org', 'Boss@a.org', 'ed@a.org'], reportOfResult({ accepted: ['u@a.org'], rejected: ['ed@a.org'], refusals: [], response: '250 OK' }));
    expect(a.recipients.map((r) => r.status)).toEqual(['sent', 'pending', 'pending']);
  });

  it('only the addressed recipients change: a retry of one leaves the others as they were', () => {
    const before = three().map((r, i) => (i < 2 ? { ...r, status: 'sent' as const, response: '250 OK' } : r));
    const a = applyAttempt(before, ['ed@a.org'], reportOfError(Object.assign(new Error('Connection closed'), { code: 'ECONNECTION' })));
    expect(a.recipients.map((r) => r.status)).toEqual(['sent', 'sent', 'pending']);
    expect(a.deferred.map((r) => r.address)).toEqual(['ed@a.org']);
  });

  it('every recipient refused at RCPT TO (EENVELOPE): each by its own reply', () => {
    const err = Object.assign(new Error("Can't send mail - all recipients were rejected"), {
      code: 'EENVELOPE',
      command: 'RCPT TO',
      responseCode: 451,
      rejectedErrors: [
        { recipient: 'u@a.org', responseCode: 550, response: '550 gone' },
        { recipient: 'Boss@a.org', responseCode: 451, response: '451 busy' },
        { recipient: 'ed@a.org', responseCode: 550, response: '550 gone' },
      ],
    });
    const a = applyAttempt(three(), ['u@a.org', 'Boss@a.org', 'ed@a.org'], reportOfError(err));
    expect(a.recipients.map((r) => r.status)).toEqual(['failed', 'pending', 'failed']);
  });
});
