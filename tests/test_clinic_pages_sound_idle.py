"""The kiosk going back to its start by itself and the TV's sound, in a real headless browser (docs/rules/clinic.md,
"Pages"). The browser's own APIs are instrumented (init scripts), not our pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from app.config import Settings
from tests.clinic_support import api, call_next, create_clinic, create_service, issue, open_desk
from tests.conftest import CHROMIUM_ARGS, admin_login
from tests.support import serve_app

# When the kiosk's step changes and when it is touched, by the page's clock (a timer never fires early).
STEP_CLOCK = """
window.kiosk = { steps: [], touches: [] };
new MutationObserver(() => kiosk.steps.push([document.body.dataset.step, performance.now()]))
  .observe(document, { subtree: true, attributes: true, attributeFilter: ["data-step"] });
document.addEventListener("pointerdown", () => kiosk.touches.push(performance.now()), true);
"""

# Every sound the page makes, in order: oscillators and media started (with whether the audio can be heard), and
# the texts given to the speech synthesizer (kept from the real one: headless Chromium has no voice, and its
# speech service delays the browser's exit by seconds).
SOUND_LOG = """
window.sounds = [];
const startNode = AudioScheduledSourceNode.prototype.start;
AudioScheduledSourceNode.prototype.start = function (...args) {
  sounds.push(`chime ${this.context.state}`);
  return startNode.apply(this, args);
};
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function (...args) {
  sounds.push("chime media");
  return play.apply(this, args);
};
speechSynthesis.speak = (utterance) => sounds.push(`say ${utterance.text}`);
"""
SAID = "(count) => sounds.filter((s) => s.startsWith('say ') && s.length > 4).length >= count"
TV_SIZES = [(1920, 1080), (1366, 768), (1280, 720)]


@pytest.fixture
async def wall_browser(browser: Any, chromium_path: str) -> AsyncIterator[Any]:
    """Chromium started as docs/operations.md ("TV panel") starts a wall TV: sound allowed without a tap."""
    wall = await browser.browser_type.launch(
        executable_path=chromium_path, args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
    )
    yield wall
    await wall.close()


def announced(sounds: list[str]) -> list[str]:
    """An announcement as heard: 'chime' (once, however many notes), then what was said."""
    heard: list[str] = []
    for sound in sounds:
        if sound.startswith("chime"):
            assert sound == "chime running", sounds  # audible, not a context the browser holds suspended
            if heard[-1:] != ["chime"]:
                heard.append("chime")
        elif sound != "say ":  # the empty utterance that unlocks speech on a tap
            heard.append(sound.removeprefix("say "))
    return heard


async def test_the_kiosk_returns_to_its_start_unless_touched_and_the_tv_chimes_then_reads_code_room_and_route(
    settings: Settings, browser: Any, wall_browser: Any
) -> None:
    async with serve_app(settings) as srv, httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
        admin = await admin_login(client)
        cid = (await create_clinic(client, admin, name="Clínica Central"))["id"]
        service = await create_service(client, admin, cid, "EN", name="Enfermagem", route_text="")
        nurse = await open_desk(client, admin, cid, "Sala 3")
        route = "Consultórios 1 a 4 - corredor A"
        patched = await client.patch(
            api(cid, f"/rooms/{nurse.room['id']}"),
            json={"route_text": route, "direction": "left"},
            headers=admin.headers,
        )
        assert patched.status_code == 200, patched.text
        doctor = await open_desk(client, admin, cid, "Consultório 5")  # no route anywhere

        # The TVs: one started with sound in a browser that allows it, one silent until somebody taps "Ativar som",
        # and one asking for sound in a browser that blocks it (which shows the button).
        loud = await wall_browser.new_page(viewport={"width": 1280, "height": 720})
        quiet = await browser.new_page(viewport={"width": 1280, "height": 720})
        blocked = await browser.new_page(viewport={"width": 1280, "height": 720})
        for tv, query in ((loud, "?sound=on"), (quiet, ""), (blocked, "?sound=on")):
            await tv.add_init_script(SOUND_LOG)
            await tv.goto(f"{srv.url}/clinics/{cid}/tv{query}")
            await expect(tv.locator("body")).to_have_attribute("data-connection", "live", timeout=20_000)
        await expect(loud.locator("#enable-sound")).to_be_hidden()  # nothing to tap
        await expect(blocked.locator("#enable-sound")).to_have_text("Ativar som")
        await blocked.close()

        # Kiosks with a 5 s delay: one showing a ticket, one at the service's details; and one whose out-of-range
        # delay is ignored (the minute applies). Nobody touches them again but once, while the TVs are tested.
        kiosks = []
        for query in ("?idle=5", "?idle=1", "?idle=5"):
            kiosk = await browser.new_page(viewport={"width": 1280, "height": 800})
            await kiosk.add_init_script(STEP_CLOCK)
            await kiosk.goto(f"{srv.url}/clinics/{cid}/totem{query}")
            await kiosk.click(f"button[data-service-id='{service['id']}']")
            await expect(kiosk.locator("#step-details")).to_be_visible()
            kiosks.append(kiosk)
        ticket, slow, details = kiosks
        await ticket.click("#issue")
        await expect(ticket.locator("#ticket-code")).to_have_text("EN-001")
        await details.wait_for_timeout(1_500)
        await details.click("#patient-name")  # a touch before the 5 s: the details stay another 5 s
        await issue(client, cid, service["id"])

        # Called at the room with a route: the loud TV chimes, then reads code, room and route; the quiet one
        # stays silent, its button clear of the call.
        assert (await call_next(client, cid, nurse)).json()["code"] == "EN-001"
        await expect(loud.locator("#current-code")).to_have_text("EN-001", timeout=10_000)
        expected = ["chime", f"Senha E N, 1. Sala 3. {route}."]
        await loud.wait_for_function(SAID, arg=1, timeout=10_000)  # the voice comes after the chime
        assert announced(await loud.evaluate("sounds")) == expected
        await expect(quiet.locator("#current-code")).to_have_text("EN-001", timeout=10_000)
        for width, height in TV_SIZES:
            await quiet.set_viewport_size({"width": width, "height": height})
            button = await quiet.locator("#enable-sound").bounding_box()
            card = await quiet.locator("#current").bounding_box()
            assert button is not None, "the button 'Ativar som' is shown"
            assert card is not None
            apart = (
                button["x"] + button["width"] <= card["x"]
                or card["x"] + card["width"] <= button["x"]
                or button["y"] + button["height"] <= card["y"]
                or card["y"] + card["height"] <= button["y"]
            )
            assert apart, (width, height, button, card)
        assert await quiet.evaluate("sounds") == []
        await quiet.click("#enable-sound")
        await expect(quiet.locator("#enable-sound")).to_be_hidden()

        # Called at the room without a route: no route read, on either TV.
        assert (await call_next(client, cid, doctor)).json()["code"] == "EN-002"
        plain = ["chime", "Senha E N, 2. Consultório 5."]
        for tv, heard in ((quiet, plain), (loud, expected + plain)):
            await tv.wait_for_function(SAID, arg=len(heard) // 2, timeout=10_000)
            assert announced(await tv.evaluate("sounds")) == heard

        # The kiosks meanwhile: back at the start by themselves, the touched one 5 s after its touch.
        for kiosk in (ticket, details):
            await expect(kiosk.locator("#step-services")).to_be_visible(timeout=15_000)
            await expect(kiosk.locator("#instruction")).to_be_visible()
        clock = await details.evaluate("kiosk")
        assert clock["touches"], clock
        touched = clock["touches"][-1]
        back = [at for step, at in clock["steps"] if step == "step-services" and at > touched]
        assert back, clock
        assert back[0] - touched >= 4_990, clock  # counted from the touch, not from the choice
        clock = await ticket.evaluate("kiosk")
        shown = next(at for step, at in clock["steps"] if step == "step-ticket")
        assert all(at < shown for at in clock["touches"]), clock  # "Concluir" was never needed
        await expect(slow.locator("#step-details")).to_be_visible()  # ?idle=1 ignored: still its minute
