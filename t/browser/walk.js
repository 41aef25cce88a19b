#!/usr/bin/env node
// The real-browser walk of the twofa-edge demo: Debian's Chromium, driven by
// playwright-core, does what a person would do in front of `make demo`.
//
//   node t/browser/walk.js --url http://127.0.0.1:PORT \
//       --admin alice:alice-demo --user bob:bob-demo [--screenshots DIR]
//
// t/50-browser.t starts the demo with a fresh state (nobody enrolled, no org
// requires two-factor authentication) and runs this.  Both users must be in
// the same org; --admin must be an admin of it.
//
// Output: JSON lines on stdout, see common.js (shared with walk-django.js);
// the .t turns them into TAP.  The first failed check stops the walk.
//
// TOTP codes come from oathtool.  With twofa_skew 1 three steps are usable
// at any moment and each step is used once per user, so the walk spends
// them in order: now-30 s for enrollment, now for the next sign-in, now+30 s
// to turn two-factor authentication off (the refused attempt before it does
// not use its step).

'use strict';

const {
    parseArgs, check, equal, like, step, shot, where, submit, chain,
    cookieNames, cookie, text, totp, wrongCode, expectEnrollment,
    expectRecoveryCodes, expectCodePage, expectWrongCode, run,
} = require('./common');

const WALK_TIMEOUT = 150000;    // ms, the whole walk

const opt = parseArgs({
    usage: 'node walk.js --url URL --admin NAME:PASSWORD --user NAME:PASSWORD [--screenshots DIR]',
    names: ['url', 'admin', 'user'],
    accounts: ['admin', 'user'],
});
const base = opt.url;

// The <dd> that follows the <dt> with this text (the settings page's list).
async function definition(page, term) {
    return page.evaluate((t) => {
        const dt = [...document.querySelectorAll('dt')].find((e) => e.textContent.trim() === t);
        const dd = dt && dt.nextElementSibling;
        return dd && dd.tagName === 'DD' ? dd.textContent.trim() : null;
    }, term);
}

// The app's sign-in form, as a person fills it in.
async function signIn(page, who) {
    if (where(page) !== '/login') await page.goto(`${base}/login`);
    await page.fill('#user', who.name);
    await page.fill('#password', who.password);
    return submit(page, 'main form button[type=submit]');
}

async function signOut(page) {
    if (where(page) !== '/dashboard') await page.goto(`${base}/dashboard`);
    const resp = await submit(page, 'form[action="/logout"] button');
    equal(where(page), '/login', 'signed out: back at the sign-in form');
    return resp;
}

// The dashboard says who is signed in and how (nginx's $twofa_amr).
async function expectDashboard(page, who, amr, how) {
    equal(where(page), '/dashboard', `${who.name} is on the dashboard`);
    like(await text(page, '#who'), new RegExp(`^Signed in as ${who.name} \\(`), 'the dashboard names the user');
    equal(await page.getAttribute('#auth-method', 'data-amr'), amr, `the edge says: signed in with ${amr}`);
    like(await text(page, '#auth-method'), how, 'and the page says so');
}

// The admin's switch on Administration > Security.
async function setRequirement(page, on) {
    await page.goto(`${base}/admin/security`);
    equal(where(page), '/admin/security', 'the admin page opens');
    if (on) await page.check('#require-2fa');
    else await page.uncheck('#require-2fa');
    const resp = await submit(page, 'form[action="/admin/security"] button');
    equal(resp.status(), 200, 'saved (303 back to the page, 200)');
    const state = on ? 'required' : 'not required';
    like(await text(page, '[role=status]'), new RegExp(`now ${state}\\.$`), `the page says: now ${state}`);
    like(await text(page, '#require-state'), new RegExp(` is ${state} in `), `the policy read back: ${state}`);
    equal(await page.isChecked('#require-2fa'), on, `the switch is ${on ? 'on' : 'off'}`);
}

// --- the walk -------------------------------------------------------------

async function walk(browser, { newContext, newPage, closePage, consoleErrors }) {
    const user = opt.user;
    const admin = opt.admin;

    // Two people, each in their own browser profile (cookie jar).
    const userCtx = await newContext();
    const adminCtx = await newContext();
    const u = await newPage(userCtx, 'user');
    const a = await newPage(adminCtx, 'admin');

    step('the requirement is off: a password is enough');
    let resp = await u.goto(`${base}/`);
    equal(resp.status(), 200, 'the demo answers');
    equal(where(u), '/login', '/ leads to the sign-in form');
    equal(await text(u, 'h1'), 'Contact Center', 'the app\'s sign-in page');
    await shot(u, 'login');

    resp = await signIn(u, user);
    equal(resp.status(), 200, 'sign-in: 200');
    equal(chain(resp).method(), 'POST', 'the first request was the POST');
    await expectDashboard(u, user, 'pwd', /^Signed in with password only\.$/);
    let names = await cookieNames(userCtx);
    check(names.includes('app_session'), 'the app set its session cookie', names);
    const ts = await cookie(userCtx, 'twofa_session');
    check(ts && ts.httpOnly, 'the edge set an HttpOnly twofa_session cookie', JSON.stringify(ts));
    check(!names.includes('twofa_hold'), 'no hold', names);
    await shot(u, 'dashboard-password');

    step('an admin switches the requirement on');
    resp = await signIn(a, admin);
    await expectDashboard(a, admin, 'pwd', /password only/);
    await submit(a, 'a[href="/admin/security"]');
    equal(where(a), '/admin/security', 'Administration > Security opens from the dashboard');
    like(await text(a, '#require-state'), / is not required in /, 'it says: not required');
    equal(await a.isChecked('#require-2fa'), false, 'the switch is off');
    await shot(a, 'admin-security');
    await setRequirement(a, true);
    await shot(a, 'admin-security-on');

    step('the user, still signed in, keeps working');
    resp = await u.reload();
    equal(resp.status(), 200, 'the dashboard reloads: 200');
    await expectDashboard(u, user, 'pwd', /password only/);

    step('the next sign-in meets enrollment');
    await signOut(u);
    resp = await signIn(u, user);
    equal(chain(resp).url(), `${base}/login`, 'redirected from the app\'s POST /login');
    const key = await expectEnrollment(u, resp, { name: user.name, appCookie: 'app_session', shotName: 'enroll' });

    step('the first code turns it on and shows the recovery codes');
    const codes = await expectRecoveryCodes(u, totp(key, -30), 'recovery');

    resp = await submit(u, 'form button[type=submit]');
    equal(chain(resp).url(), `${base}/2fa/continue`, 'continue releases the held sign-in');
    await expectDashboard(u, user, 'totp', /^Signed in with two-factor authentication\.$/);
    names = await cookieNames(userCtx);
    check(names.includes('app_session') && names.includes('twofa_session'),
          'the app\'s session cookie and the edge\'s', names);
    check(!names.includes('twofa_hold'), 'the hold cookie is gone', names);
    await shot(u, 'dashboard-2fa');

    step('signing in again asks for a code; a wrong one is refused');
    await signOut(u);
    resp = await signIn(u, user);
    await expectCodePage(u, resp, user.name, 'verify');

    await expectWrongCode(u, wrongCode(key), 'verify-error');
    check(!(await cookieNames(userCtx)).includes('app_session'), 'still held back', '');

    step('the right code signs in');
    await u.fill('#code', totp(key, 0));
    resp = await submit(u, 'form button[type=submit]');
    await expectDashboard(u, user, 'totp', /two-factor authentication\.$/);

    step('a recovery code signs in once');
    await signOut(u);
    await signIn(u, user);
    equal(where(u), '/2fa/verify', 'the code page');
    await u.fill('#code', codes[3]);
    resp = await submit(u, 'form button[type=submit]');
    await expectDashboard(u, user, 'recovery', /^Signed in with two-factor authentication \(a recovery code\)\.$/);
    await shot(u, 'dashboard-recovery');

    // the same code, from another browser: refused
    const otherCtx = await newContext();
    const o = await newPage(otherCtx, 'other');
    await o.goto(`${base}/login`);
    await signIn(o, user);
    equal(where(o), '/2fa/verify', 'another browser: the code page');
    await o.fill('#code', codes[3]);
    resp = await submit(o, 'form button[type=submit]');
    equal(resp.status(), 401, 'the same recovery code again: 401');
    like(await text(o, '#twofa-error'), /^That code is not valid\./, 'the error is shown');
    await shot(o, 'verify-recovery-used');
    await otherCtx.close();
    closePage('other');

    step('settings: turning it off is refused while the org requires it');
    await u.goto(`${base}/dashboard`);
    await submit(u, 'a[href="/2fa/settings"]');
    equal(where(u), '/2fa/settings', 'Two-factor settings opens from the dashboard');
    equal(await text(u, '#twofa-status'), 'On', 'status: On');
    equal(await definition(u, 'Recovery codes left'), '9', 'nine recovery codes left');
    like(await text(u, 'main'), /Your organisation requires two-factor authentication\./, 'the org requires it');
    await shot(u, 'settings');

    await u.fill('#code', totp(key, 30));
    resp = await submit(u, 'form button[type=submit]');
    equal(resp.status(), 403, 'disable refused: 403');
    like(await text(u, '#twofa-error'), /cannot be turned off\.$/, 'with the reason');
    equal(await text(u, '#twofa-status'), 'On', 'status: still On');
    await shot(u, 'settings-refused');

    step('settings: allowed once the admin switches the requirement off');
    await setRequirement(a, false);
    await shot(a, 'admin-security-off');
    await u.goto(`${base}/2fa/settings`);
    check(!/requires two-factor/.test(await text(u, 'main')), 'the org no longer requires it');
    await u.fill('#code', totp(key, 30));
    resp = await submit(u, 'form button[type=submit]');
    equal(resp.status(), 200, 'disable accepted: 200');
    equal(await text(u, '[role=status]'), 'Two-factor authentication is now off.', 'the page says so');
    equal(await text(u, '#twofa-status'), 'Off', 'status: Off');
    check(await u.isVisible('form[action$="/settings/enable"] button'), 'and offers to set it up again');
    await shot(u, 'settings-off');

    step('and the next sign-in needs only the password');
    await signOut(u);
    resp = await signIn(u, user);
    await expectDashboard(u, user, 'pwd', /^Signed in with password only\.$/);

    step('the browser saw no errors');
    check(consoleErrors.length === 0, 'nothing in the browser console (CSP, scripts)', consoleErrors.join('\n'));
}

run(walk, { timeout: WALK_TIMEOUT });
