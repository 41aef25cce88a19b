#!/usr/bin/env node
// The real-browser walk of Django's admin behind nginx with the module:
// Debian's Chromium, driven by playwright-core, does what a person would.
//
//   node t/browser/walk-django.js --url http://127.0.0.1:PORT \
//       --user alice:pw-alice [--screenshots DIR]
//
// t/51-browser-django.t starts Django's admin (gunicorn) behind nginx with
// twofa_login on Django's login view (/admin/login/), the 2FA pages at
// /2fa/ and an org that requires two-factor authentication; --user is a
// staff account of Django's that has not enrolled yet.  The walk: Django's
// login form, a wrong password (Django's own error), the right one (the
// module's enrollment), the admin index, Django's logout, a login again
// (the module's code page, a wrong code, the right one), the admin index.
//
// Output: JSON lines on stdout, see common.js (shared with walk.js); the .t
// turns them into TAP.  The first failed check stops the walk.
//
// TOTP codes come from oathtool.  With twofa_skew 1 three steps are usable
// at any moment and each step is used once per user: now-30 s for
// enrollment, now for the next login (a wrong code uses no step).

'use strict';

const {
    parseArgs, check, equal, like, step, shot, where, submit, chain,
    cookieNames, text, totp, wrongCode, expectEnrollment,
    expectRecoveryCodes, expectCodePage, expectWrongCode, run,
} = require('./common');

const WALK_TIMEOUT = 60000;     // ms, the whole walk

const opt = parseArgs({
    usage: 'node walk-django.js --url URL --user NAME:PASSWORD [--screenshots DIR]',
    names: ['url', 'user'],
    accounts: ['user'],
});
const base = opt.url;

// Django's "Log out" in the page header: a link up to Django 4.0, a POST
// form's button from 4.1
const LOGOUT = '#user-tools :is(a[href$="/logout/"], #logout-form button[type=submit])';

// Django's login form, as a person fills it in.
async function signIn(page, who, password = who.password) {
    if (where(page) !== '/admin/login/') await page.goto(`${base}/admin/login/?next=/admin/`);
    await page.fill('#id_username', who.name);
    await page.fill('#id_password', password);
    return submit(page, '#login-form input[type=submit]');
}

// Django's stylesheets applied (its header has a background colour).
async function expectStyled(page) {
    const bg = await page.evaluate(() => getComputedStyle(document.querySelector('#header')).backgroundColor);
    check(!/^(transparent|rgba\(0, 0, 0, 0\))$/.test(bg), 'Django\'s stylesheets apply', `#header background ${bg}`);
}

// The held login released by a POST to FROM (resp: the page it led to):
// the admin index, signed in as WHO, with Django's session cookie, no hold.
async function expectReleased(page, resp, from, who, shotName) {
    equal(chain(resp).url(), `${base}${from}`, `${from} releases the held login`);
    equal(resp.status(), 200, 'the admin index: 200');
    equal(where(page), '/admin/', 'the browser is in Django\'s admin');
    equal(await text(page, '#content h1'), 'Site administration', 'the admin index: Site administration');
    equal(await text(page, '#user-tools strong'), who.name, `Django greets ${who.name}`);
    check(await page.isVisible(LOGOUT), 'and offers to log out');
    await expectStyled(page);
    const names = await cookieNames(page.context());
    check(names.includes('sessionid'), 'Django\'s sessionid cookie is there', names);
    check(!names.includes('twofa_hold'), 'no hold cookie', names);
    await shot(page, shotName);
}

async function walk(browser, { newContext, newPage, consoleErrors }) {
    const user = opt.user;
    const ctx = await newContext();
    const p = await newPage(ctx, 'user');

    step('/admin/ leads to Django\'s login form');
    let resp = await p.goto(`${base}/admin/`);
    equal(resp.status(), 200, 'the login form: 200');
    equal(where(p), '/admin/login/', '/admin/ redirects to Django\'s login view');
    equal(chain(resp).url(), `${base}/admin/`, 'from /admin/');
    equal(await text(p, '#site-name'), 'Django administration', 'Django\'s own page');
    check(await p.isVisible('#login-form'), 'with its login form');
    await expectStyled(p);
    await shot(p, 'django-login');

    step('a wrong password: Django\'s own error on its own page');
    resp = await signIn(p, user, `${user.password}-wrong`);
    equal(chain(resp).method(), 'POST', 'the login form was posted');
    equal(resp.status(), 200, 'Django answers 200');
    equal(where(p), '/admin/login/', 'the login view again');
    like(await text(p, '.errornote'), /^Please enter the correct username and password for a staff account\./,
         'Django\'s error message');
    let names = await cookieNames(ctx);
    check(!names.includes('twofa_hold') && !names.includes('sessionid'), 'no hold, no session', names);
    await shot(p, 'django-login-wrong');

    step('the right password: held for enrollment');
    resp = await signIn(p, user);
    equal(chain(resp).url(), `${base}/admin/login/?next=/admin/`, 'redirected from Django\'s POST /admin/login/');
    equal(chain(resp).method(), 'POST', 'the first request was the POST');
    const key = await expectEnrollment(p, resp, { name: user.name, appCookie: 'sessionid', shotName: 'django-enroll' });

    step('the first code: the recovery codes, then Django\'s admin');
    await expectRecoveryCodes(p, totp(key, -30), 'django-recovery');
    resp = await submit(p, 'form button[type=submit]');
    await expectReleased(p, resp, '/2fa/continue', user, 'django-admin');

    step('logging out, Django\'s way');
    resp = await submit(p, LOGOUT);
    equal(resp.status(), 200, 'the logout page: 200');
    equal(where(p), '/admin/logout/', 'Django\'s logout view');
    equal(await text(p, '#content h1'), 'Logged out', 'it says: Logged out');
    names = await cookieNames(ctx);
    check(!names.includes('sessionid'), 'Django\'s sessionid is gone', names);
    await shot(p, 'django-logged-out');

    step('logging in again asks for a code; a wrong one is refused');
    await submit(p, '#content a[href="/admin/"]');
    equal(where(p), '/admin/login/', '"Log in again": the login form');
    resp = await signIn(p, user);
    equal(chain(resp).url(), `${base}/admin/login/?next=/admin/`, 'redirected from Django\'s POST /admin/login/');
    await expectCodePage(p, resp, user.name, 'django-verify');
    names = await cookieNames(ctx);
    check(names.includes('twofa_hold') && !names.includes('sessionid'), 'held: a hold cookie, no sessionid', names);
    await expectWrongCode(p, wrongCode(key), 'django-verify-error');
    check(!(await cookieNames(ctx)).includes('sessionid'), 'still held back', '');

    step('the right code: Django\'s admin again');
    await p.fill('#code', totp(key, 0));
    resp = await submit(p, 'form button[type=submit]');
    await expectReleased(p, resp, '/2fa/verify', user, 'django-admin-again');

    step('the browser saw no errors');
    // Django has no /favicon.ico (its 404, Chromium asks for it anyway)
    const errors = consoleErrors.filter((e) => !/ 404 \(Not Found\) \(\S+\/favicon\.ico\)$/.test(e));
    check(errors.length === 0, 'nothing in the browser console (CSP, scripts)', errors.join('\n'));
}

run(walk, { timeout: WALK_TIMEOUT });
