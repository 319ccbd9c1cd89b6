"""What the phone sounds like, heard through the page's Web Audio analyser
(tests/browser/listening.py): the caller's ringback until someone answers, the
busy tone when the callee rejects as busy, the ringtone chosen in Settings (and
its preview), and the output device the sounds play on."""

import pytest
from playwright.sync_api import expect

from tests.browser.listening import assert_silent, bursts, expect_playing, hear, record
from tests.browser.test_call_page import call, expect_ringing

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RINGBACK_HZ = 425  # ETSI / ITU-T E.180: 1 s on, 4 s off
PULSE_HZ = (880, 1320)  # the "Pulse" ringtone: beeps of 880 Hz with a fifth on top
CLASSIC_HZ = (400, 450)


def open_settings(page) -> None:
    page.locator("details.settings > summary").click()
    expect(page.locator("#ringtone-choice")).to_be_visible()


def test_ringback_until_answered_and_the_callee_rings_with_the_chosen_ringtone(login, shoot, alice, bob):
    b = login("bob")
    open_settings(b)
    expect(b.locator("#ringtone-choice option")).to_have_text(["Classic", "Chime", "Pulse"])
    b.select_option("#ringtone-choice", "pulse")
    # the preview plays the chosen ringtone, and stops when asked
    b.click("#ringtone-preview")
    expect(b.locator("#ringtone-preview")).to_have_attribute("aria-pressed", "true")
    expect(b.locator("#ringtone-preview")).to_have_text("Stop")
    hear(b, *PULSE_HZ)
    shoot(b, "settings-ringtone")
    b.click("#ringtone-preview")
    expect_playing(b, [])
    expect(b.locator("#ringtone-preview")).to_have_text("Play")
    assert_silent(b, 600)

    a = login("alice")
    call(a, "bob")
    expect(a.locator("#outgoing")).to_be_visible()
    # the caller hears ringback: 425 Hz for 1 s, then 4 s of silence
    hear(a, RINGBACK_HZ)
    expect_playing(a, ["ringback"])
    cycle = bursts(record(a, 5300), RINGBACK_HZ)
    assert 600 <= cycle[0][1] - cycle[0][0] <= 1100, cycle
    assert not [burst for burst in cycle[1:] if burst[0] < 4500], cycle
    # the callee, the ringtone it chose (the choice is kept in this browser)
    expect_ringing(b, "alice")
    hear(b, *PULSE_HZ)
    expect_playing(b, ["pulse"])

    b.click("#incoming-accept")
    expect(a.locator("#incall")).to_be_visible()
    expect_playing(a, [])
    expect_playing(b, [])
    assert_silent(a, 1200)


def test_ringback_stops_when_the_invitation_ends_unanswered(login, alice, bob):
    a = login("alice")
    b = login("bob")
    call(a, "bob", timeout=3)
    hear(a, RINGBACK_HZ)
    expect_ringing(b, "alice")
    hear(b, *CLASSIC_HZ)  # the default ringtone
    # nobody answers: the invitation times out, ringback and ringtone stop
    expect(a.locator("#idle")).to_be_visible(timeout=15000)
    expect_playing(a, [])
    expect_playing(b, [])


def test_busy_tone_when_the_callee_rejects_as_busy(login, alice, bob):
    a = login("alice")
    b = login("bob")
    call(a, "bob")
    hear(a, RINGBACK_HZ)
    expect_ringing(b, "alice")
    call_id = b.locator("#incoming").get_attribute("data-call-id")
    b.evaluate("(callID) => window.zimClient.callReject(callID, {reason: 'busy'})", call_id)
    expect_playing(a, ["busy"])
    expect(a.locator("#toasts")).to_contain_text("bob is busy")
    # 425 Hz, 0.5 s on and 0.5 s off (ringback is 1 s on, 4 s off)
    samples = record(a, 2200)
    # a tone already sounding when the recording began (or its fading tail) is cut: not a whole one
    tones = [tone for tone in bursts(samples, RINGBACK_HZ) if tone[0] > samples[0][0]]
    assert len(tones) >= 2, tones
    assert all(end - start <= 650 for start, end in tones), tones
    assert all(second[0] - first[1] >= 300 for first, second in zip(tones, tones[1:])), tones
    # three cycles, then it stops by itself
    expect_playing(a, [], timeout_ms=5000)
    assert_silent(a, 800)


def test_sounds_play_on_the_output_chosen_in_settings(login, bob):
    b = login("bob")
    open_settings(b)
    outputs = b.locator("#sound-output option")
    expect(outputs.first).to_have_text("System default")
    # Chromium's fake devices: two outputs besides the default
    expect(outputs).to_have_count(3)
    chosen = outputs.nth(2).get_attribute("value")
    b.select_option("#sound-output", chosen)
    b.click("#ringtone-preview")
    hear(b, *CLASSIC_HZ)
    assert b.evaluate("window.callSounds.context.sinkId") == chosen
    assert b.evaluate("localStorage.getItem('call.soundOutput')") == chosen
    # the choice is kept: after a reload the page's sounds go there again
    b.click("#ringtone-preview")
    b.reload()
    b.wait_for_selector("#conn-state[data-state=connected]")
    open_settings(b)
    expect(b.locator("#sound-output")).to_have_value(chosen)
    b.click("#ringtone-preview")
    hear(b, *CLASSIC_HZ)
    assert b.evaluate("window.callSounds.context.sinkId") == chosen
