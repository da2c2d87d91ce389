"""A real browser: Debian's Chromium, headless, driven by Playwright, opens the page, works each
tab and saves screenshots (to $SCREENSHOT_DIR, else a temporary folder)."""
import os
import shutil

import pytest
from test_app import MODEL, app_url  # noqa: F401  (the running app fixture)

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def page(app_url):  # noqa: F811
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(app_url)
        page.get_by_text("StyleGAN2Generator: 64x64").wait_for(timeout=60_000)  # the model loaded on page load
        yield page
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = os.environ.get("SCREENSHOT_DIR") or str(tmp_path_factory.mktemp("screenshots"))
    os.makedirs(folder, exist_ok=True)
    return folder


def test_generate_tab_shows_a_gallery(page, shots):
    page.get_by_role("tab", name="Generate").click()
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator("[data-testid='gallery'] img, .gallery img, button.thumbnail-item img").first.wait_for(timeout=60_000)
    assert page.locator("img[src*='/file=' i], img[src*='gradio_api/file' i]").count() >= 8
    page.screenshot(path=os.path.join(shots, "1-generate.png"), full_page=True)


def test_style_mixing_tab_shows_the_grid(page, shots):
    page.get_by_role("tab", name="Style mixing").click()
    page.get_by_role("button", name="Mix").click()
    page.get_by_text("ws 4-7 from the columns").wait_for(timeout=60_000)
    page.screenshot(path=os.path.join(shots, "2-style-mixing.png"), full_page=True)


def test_interpolate_tab_renders_a_video(page, shots):
    page.get_by_role("tab", name="Interpolate").click()
    page.get_by_role("button", name="Render video").click()
    page.get_by_text("frames at 30 fps").wait_for(timeout=120_000)
    assert page.locator("video").count() >= 1
    page.screenshot(path=os.path.join(shots, "3-interpolate.png"), full_page=True)


def test_directions_tab_edits(page, shots):
    page.get_by_role("tab", name="Directions").click()
    page.get_by_role("button", name="Edit", exact=True).click()
    try:
        page.get_by_text("SeFa component 0").wait_for(timeout=60_000)  # the note comes with the result
        page.locator("text=edited_latents >> visible=true").first.wait_for(timeout=60_000)  # the result's download
        strip = page.locator(".enlarge img").filter(has=page.locator("xpath=self::*[contains(@src, 'direction')]"))
        box = strip.first.bounding_box() if strip.count() else None
        assert box is not None and box["height"] >= 3 * 64, box  # 64 px faces shown enlarged
    finally:
        page.screenshot(path=os.path.join(shots, "4-directions.png"), full_page=True)


@pytest.fixture(scope="module")
def avatar(tmp_path_factory):
    """A face the embedded model made (seed 21), as a visitor's PNG, enlarged to 200 px."""
    import stylegan
    from editing.generate import generate_images
    path = tmp_path_factory.mktemp("photo") / "avatar.png"
    generate_images(stylegan.load("avataaars-64", device="cpu"), [21], 0.7)[0].resize((200, 200)).save(path)
    return str(path)


def test_an_empty_click_is_one_message_and_the_panes_stay(page, shots):
    """Project with no image: the message at the image, no "Error" badge on any result pane."""
    page.get_by_role("tab", name="Project").click()
    page.get_by_role("button", name="Project", exact=True).click()
    page.get_by_text("upload an image first").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    try:
        assert page.get_by_text("Error", exact=True).count() == 0
    finally:
        page.screenshot(path=os.path.join(shots, "5b-empty-project.png"), full_page=True)


def test_project_tab_projects_an_upload_and_stop_stops(page, shots, avatar):
    page.get_by_role("tab", name="Project").click()
    page.locator("#photo input[type=file]").set_input_files(avatar)
    page.get_by_role("button", name="Project", exact=True).click()
    try:
        page.get_by_text("hybrid, 100 steps").wait_for(timeout=120_000)
        page.locator("#proj-npz").get_by_text("projection").first.wait_for(timeout=30_000)  # the latent's download
    finally:
        page.screenshot(path=os.path.join(shots, "6-project.png"), full_page=True)
    # Stop: a 5000-step run shows its progress, then stops when asked and stays stopped.
    page.get_by_label("image2stylegan").check()
    page.get_by_role("button", name="Project", exact=True).click()
    info = page.locator("#proj-info")
    page.get_by_text("step ").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Stop").click()
    page.wait_for_timeout(3000)
    before = info.inner_text()
    page.wait_for_timeout(3000)
    assert info.inner_text() == before and "5000 steps" not in before, before
    page.get_by_label("hybrid").check()


def test_an_example_photo_projects_and_the_editing_tabs_show_the_result(page, shots):
    """The examples load and run; the thumbnail of the current latent follows the projection."""
    page.get_by_role("tab", name="Directions").click()
    thumb = page.locator("#dir-current img").first
    thumb.wait_for(timeout=30_000)
    before = thumb.get_attribute("src")
    page.get_by_role("tab", name="Project").click()
    page.locator("img[src*='heldout-0']").first.click()  # the first example: a held-out avatar
    page.locator("#photo img").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Project", exact=True).click()
    page.locator("#proj-info").get_by_text("hybrid, 100 steps").wait_for(timeout=120_000)
    try:
        page.get_by_role("tab", name="Directions").click()
        page.wait_for_function("([el, old]) => el.src && el.src !== old", arg=[thumb.element_handle(), before],
                               timeout=30_000)
        page.locator("#dir-current-note").get_by_text("Acting on a projection (projection.npz)").wait_for(timeout=30_000)
        page.screenshot(path=os.path.join(shots, "6b-directions-acting-on-a-projection.png"), full_page=True)
        page.get_by_role("tab", name="Text edit").click()
        page.locator("#text-current-note").get_by_text("Acting on a projection").wait_for(timeout=30_000)
        page.get_by_role("tab", name="Drag").click()
        page.locator("#drag-current-note").get_by_text("Acting on a projection").wait_for(timeout=30_000)
        # the prompt examples fill the prompt, and the edit runs on the projection
        page.get_by_role("tab", name="Text edit").click()
        page.get_by_text("with pink hair", exact=True).first.click()
        prompt = page.get_by_label("Prompt", exact=True)
        page.wait_for_function("el => el.value === 'with pink hair'", arg=prompt.element_handle(), timeout=10_000)
        page.get_by_role("button", name="Edit", exact=True).click()
        page.locator("#text-info").get_by_text("style channels moved").first.wait_for(timeout=120_000)
    finally:
        page.screenshot(path=os.path.join(shots, "7b-text-edit-example.png"), full_page=True)
    # Generate's seed examples fill the seed box
    page.get_by_role("tab", name="Generate").click()
    page.get_by_text("100-115", exact=True).first.click()
    box = page.get_by_label("Seeds (e.g. 0-7 or 1,5,9; at most 64)")
    page.wait_for_function("el => el.value === '100-115'", arg=box.element_handle(), timeout=10_000)
    box.fill("0-7")


def test_bad_input_shows_a_message_not_a_trace(page, shots):
    page.get_by_role("tab", name="Generate").click()
    box = page.get_by_label("Seeds (e.g. 0-7 or 1,5,9; at most 64)")
    box.fill("0-100000")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.get_by_text("asks for too many seeds").first.wait_for(timeout=30_000)
    assert page.get_by_text("Traceback").count() == 0
    page.screenshot(path=os.path.join(shots, "5-error.png"), full_page=True)
    box.fill("0-7")


def test_drag_tab_places_points_by_clicking_and_drags(page, shots):
    import json
    page.get_by_role("tab", name="Drag").click()
    page.get_by_role("button", name="Show the image / reset points").click()
    image = page.locator("#drag-image img")
    image.first.wait_for(timeout=60_000)
    box = image.first.bounding_box()
    points = page.locator("#drag-points textarea, #drag-points input").first
    for fx, fy in ((0.5, 0.62), (0.58, 0.62)):  # a handle, then its target
        before = points.input_value()
        image.first.click(position={"x": box["width"] * fx, "y": box["height"] * fy})
        page.wait_for_function("([el, old]) => el.value !== old", arg=[points.element_handle(), before], timeout=30_000)
    pairs = json.loads(points.input_value())
    assert len(pairs) == 1 and len(pairs[0]) == 4 and pairs[0][2] > pairs[0][0], pairs
    page.get_by_role("button", name="Start").click()
    try:
        page.locator("#drag-info").get_by_text("farthest handle").wait_for(timeout=120_000)
    finally:
        page.screenshot(path=os.path.join(shots, "8-drag.png"), full_page=True)
