"""The page in a real browser (headless Chromium through Selenium) against a real gunicorn with the
demo set and the offline engine writing slowly: sign-in, asking, streaming, zooms, citations,
reloading mid-answer, hostile text, a phone's width, the keyboard alone, and axe-core."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.web.conftest import DESKTOP, MOBILE, Site, WebUser, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

QUESTION = "Какая площадь кладовой 107 на плане этажа?"
ANSWER_TIMEOUT = 60


def By():  # noqa: N802  (selenium is imported lazily: the conftest skips or fails without it)
    from selenium.webdriver.common.by import By as by

    return by


def keys():
    from selenium.webdriver.common.keys import Keys

    return Keys


def wait(driver, condition, timeout: float = 15, message: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, message)


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def open_page(driver, site: Site) -> None:
    """The page with a clean tab: no access token, no run, no chat remembered."""
    driver.get(site.url + "/")
    js(driver, "sessionStorage.clear(); localStorage.clear();")
    driver.get(site.url + "/")
    wait(driver, lambda d: d.find_elements(By().ID, "token"), message="no sign-in form")


def sign_in(driver, site: Site, user: WebUser) -> None:
    open_page(driver, site)
    field = driver.find_element(By().ID, "token")
    field.send_keys(user.token + keys().ENTER)
    wait(driver, lambda d: d.find_elements(By().CSS_SELECTOR, "button.new-chat"), message="no app")
    wait(driver, lambda d: d.find_element(By().CSS_SELECTOR, ".top .user").text == user.username)


def new_chat_with_demo(driver, site: Site) -> None:
    driver.find_element(By().CSS_SELECTOR, "button.new-chat").click()
    wait(driver, lambda d: d.find_elements(By().ID, "chat-title"), message="no new chat")
    driver.find_element(By().CSS_SELECTOR, ".options summary").click()
    selector = f'input[data-document="{site.demo}"]'

    def choose(d) -> bool:
        """Tick the demo document (the list is re-rendered when its results arrive)."""
        from selenium.common.exceptions import StaleElementReferenceException

        try:
            boxes = d.find_elements(By().CSS_SELECTOR, selector)
            if boxes and not boxes[0].is_selected():
                boxes[0].click()
            return bool(d.find_elements(By().CSS_SELECTOR, selector + ":checked"))
        except StaleElementReferenceException:
            return False

    wait(driver, choose, message="the demo document cannot be chosen")
    chip = driver.find_element(By().CSS_SELECTOR, ".documents .chip").text
    assert "01/25-ДМ-АР" in chip


def ask(driver, question: str = QUESTION) -> None:
    driver.find_element(By().ID, "question").send_keys(question + keys().ENTER)
    wait(driver, lambda d: d.find_elements(By().CSS_SELECTOR, ".message.assistant.live"))


def answer_state(driver) -> dict:
    """The last answer on the page: its state, text and thumbnails."""
    return js(
        driver,
        """const all = document.querySelectorAll('.message.assistant');
        const last = all[all.length - 1];
        if (!last) return null;
        return {state: last.dataset.state || 'live',
                text: last.querySelector('.answer-text').textContent,
                thumbs: last.querySelectorAll('.thumb').length,
                kinds: [...last.querySelectorAll('.thumb')].map(t => t.dataset.kind)};""",
    )


def wait_answer(driver) -> dict:
    wait(
        driver,
        lambda d: (answer_state(d) or {}).get("state") in ("completed", "error"),
        ANSWER_TIMEOUT,
        "the answer did not end",
    )
    state = answer_state(driver)
    assert state["state"] == "completed", state
    return state


def dialog(driver):
    return driver.find_elements(By().CSS_SELECTOR, "dialog.modal[open]")


def console_errors(driver) -> list[dict]:
    """Errors in the browser console (a CSP violation, a failed module, an uncaught error)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def no_horizontal_scroll(driver) -> bool:
    return js(
        driver,
        "return document.documentElement.scrollWidth <= window.innerWidth"
        " && document.body.scrollWidth <= window.innerWidth;",
    )


def stream_requests(driver) -> list[dict]:
    """The page's requests for an answer's stream, from Chromium's network log."""
    found = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] != "Network.requestWillBeSent":
            continue
        request = message["params"]["request"]
        if "/stream" in request["url"]:
            found.append(request)
    return found


def test_sign_in_refuses_wrong_tokens_and_keeps_only_the_access_token(browser, site):
    driver = browser
    good = site.user("web-signin")
    blocked = site.user("web-blocked", blocked=True)
    open_page(driver, site)
    field = driver.find_element(By().ID, "token")
    field.send_keys("azd_not-a-real-token" + keys().ENTER)
    error = driver.find_element(By().ID, "token-error")
    wait(driver, lambda d: "Неверный токен" in error.text, message="wrong token not refused")
    assert not driver.find_elements(By().CSS_SELECTOR, "button.new-chat")

    field.clear()
    field.send_keys(blocked.token + keys().ENTER)
    wait(driver, lambda d: "заблокирован" in error.text, message="blocked user not told")

    sign_in(driver, site, good)
    stored = js(driver, "return JSON.stringify(sessionStorage) + JSON.stringify(localStorage);")
    assert good.token not in stored and good.token not in driver.current_url
    assert js(driver, "return Object.keys(localStorage).length") == 0
    assert js(driver, "return sessionStorage.getItem('azd.jwt')").count(".") == 2  # a JWT

    # a token the server no longer accepts brings the sign-in back, saying why
    js(driver, "sessionStorage.setItem('azd.jwt', 'expired.or.revoked');")
    driver.refresh()
    wait(driver, lambda d: d.find_elements(By().ID, "token"), message="no sign-in after a 401")
    assert "Войдите снова" in driver.find_element(By().ID, "token-error").text
    assert js(driver, "return sessionStorage.getItem('azd.jwt')") is None
    assert console_errors(driver) == [] or all(
        "401" in e["message"] or "403" in e["message"] for e in console_errors(driver)
    )


def test_ask_watch_the_answer_open_a_zoom_and_a_citation(browser, site, axe):
    driver = browser
    sign_in(driver, site, site.user("web-ask"))
    driver.get_log("browser")  # only this test's console messages count
    new_chat_with_demo(driver, site)
    ask(driver)

    samples = []
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while time.monotonic() < deadline:
        state = answer_state(driver)
        samples.append(state)
        if state["state"] != "live":
            break
        time.sleep(0.05)
    final = samples[-1]
    assert final["state"] == "completed", final
    growing = [
        s for s in samples if s["state"] == "live" and 0 < len(s["text"]) < len(final["text"])
    ]
    assert len({len(s["text"]) for s in growing}) >= 3, "the text did not grow before completed"
    assert any(s["state"] == "live" and s["thumbs"] > 0 for s in samples), "no thumbnail early"
    assert "overview" in final["kinds"] and "roi" in final["kinds"], final["kinds"]
    assert "Кладовая 107" in final["text"]

    # a zoom opens large, over the block's overview with the zoomed region outlined
    zoom = driver.find_element(By().CSS_SELECTOR, ".message.assistant .thumb[data-kind='roi']")
    zoom.click()
    wait(driver, lambda d: dialog(d), message="the zoom did not open")
    wait(
        driver,
        lambda d: js(
            d,
            "return [...document.querySelectorAll('dialog[open] img')]"
            ".every(i => i.complete && i.naturalWidth > 0) &&"
            " document.querySelectorAll('dialog[open] img').length === 2;",
        ),
        message="overview and zoom not both loaded",
    )
    geometry = js(
        driver,
        """const outline = document.querySelector('dialog[open] .region-outline');
        const at = document.querySelector('dialog[open] .overview-image').getBoundingClientRect();
        const box = outline.getBoundingClientRect();
        return {bbox: outline.dataset.bbox.split(',').map(Number),
                x1: (box.left - at.left) / at.width, y1: (box.top - at.top) / at.height,
                x2: (box.right - at.left) / at.width, y2: (box.bottom - at.top) / at.height};""",
    )
    x1, y1, x2, y2 = geometry["bbox"]
    assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1 and (x2 - x1) < 1
    for name, expected in zip(("x1", "y1", "x2", "y2"), geometry["bbox"]):
        assert abs(geometry[name] - expected) < 0.02, geometry  # drawn where bbox_norm says
    screenshot(driver, "page-1440.png")  # the answered chat under a zoom with its region
    assert axe(driver) == [], "accessibility (zoom dialog)"
    driver.find_element(By().TAG_NAME, "body").send_keys(keys().ESCAPE)
    wait(driver, lambda d: not dialog(d), message="Esc did not close the zoom")

    # a citation opens its block: text, page, sheet
    driver.find_element(By().CSS_SELECTOR, ".answer-text .cite[data-block='DEMO-PLAN-001']").click()
    wait(driver, lambda d: "Кладовая 107" in d.find_element(By().CSS_SELECTOR, "dialog[open]").text)
    facts = driver.find_element(By().CSS_SELECTOR, "dialog[open] .facts").text
    assert "Страница\n4" in facts and "Лист\n2" in facts, facts
    assert driver.find_elements(By().CSS_SELECTOR, "dialog[open] .block-images img")
    driver.find_element(By().CSS_SELECTOR, "dialog[open] .modal-close").click()
    wait(driver, lambda d: not dialog(d))

    assert axe(driver) == [], "accessibility (answered chat)"
    assert console_errors(driver) == []


def test_reload_mid_answer_reattaches_and_finishes_the_same_answer(browser, site):
    driver = browser
    user = site.user("web-reload")
    sign_in(driver, site, user)
    new_chat_with_demo(driver, site)
    ask(driver)
    wait(
        driver,
        lambda d: len((answer_state(d) or {}).get("text", "")) > 40,
        message="no text before the reload",
    )
    before = answer_state(driver)
    assert before["state"] == "live", "answered before the reload: make the engine slower"
    chat_id = js(driver, "return sessionStorage.getItem('azd.chat')")
    saved = json.loads(js(driver, "return sessionStorage.getItem('azd.run')"))
    assert saved["chatId"] == chat_id and int(saved["lastId"]) > 0
    driver.get_log("performance")
    driver.refresh()

    final = wait_answer(driver)
    assert final["text"].startswith(before["text"][:40])
    resumed = [r for r in stream_requests(driver) if f"/chats/{chat_id}/stream" in r["url"]]
    assert resumed, "the page did not re-attach"
    last_ids = [int(r["headers"].get("Last-Event-ID", 0)) for r in resumed]
    assert last_ids[0] >= int(saved["lastId"]) > 0, resumed[0]["headers"]
    assert "rerun" not in resumed[0]["url"]
    assert js(driver, "return sessionStorage.getItem('azd.run')") is None

    # nothing was asked twice, and the stored answer reads exactly as the one watched
    history = requests.get(f"{site.url}/chats/{chat_id}", headers=site.access(user), timeout=10)
    assert [m["role"] for m in history.json()["messages"]] == ["user", "assistant"]
    driver.refresh()
    wait(driver, lambda d: (answer_state(d) or {}).get("state") == "stored")
    assert answer_state(driver)["text"] == final["text"]


def test_hostile_text_in_a_message_is_shown_inert(browser, site):
    payload = (
        "<script>window.__xss = 'script'</script> <img src=x onerror=\"window.__xss = 'img'\">"
        " [ссылка](javascript:window.__xss='link') <svg onload=\"window.__xss = 'svg'\">"
        " [#<img src=y onerror=window.__xss=1>] **кладовая 107**"
    )
    user = site.user("web-xss")
    headers = site.access(user)
    chat = requests.post(
        f"{site.url}/chats", json={"title": "<b onmouseover=alert(1)>XSS</b>"}, headers=headers
    ).json()
    events = site.ask_and_wait(headers, chat["id"], payload)
    assert events[-1][0] == "completed", events[-1]

    driver = browser
    sign_in(driver, site, user)
    driver.get_log("browser")
    driver.find_element(By().CSS_SELECTOR, f"button.chat-item[data-chat='{chat['id']}']").click()
    wait(driver, lambda d: (answer_state(d) or {}).get("state") == "stored")
    for link in driver.find_elements(By().CSS_SELECTOR, ".message a"):
        assert link.get_attribute("href").startswith(("http://", "https://"))
    page = js(
        driver,
        """const app = document.getElementById('app');
        return {flag: window.__xss === undefined ? null : String(window.__xss),
                handlers: [...app.querySelectorAll('*')].filter(e =>
                    [...e.attributes].some(a => a.name.startsWith('on'))).length,
                markup: app.querySelectorAll('script, svg, img[src="x"], img[src="y"], b').length,
                question: document.querySelector('.message.user').textContent,
                bold: [...document.querySelectorAll('.message.user strong')]
                    .map(e => e.textContent),
                title: document.getElementById('chat-title').textContent};""",
    )
    assert page["flag"] is None, f"a script ran: {page['flag']}"
    assert page["handlers"] == 0 and page["markup"] == 0, page
    assert "<script>window.__xss = 'script'</script>" in page["question"]
    assert "[ссылка](javascript:window.__xss='link')" in page["question"]
    assert page["bold"] == ["кладовая 107"]  # the Markdown around it still works
    assert page["title"] == "<b onmouseover=alert(1)>XSS</b>"
    driver.find_element(By().CSS_SELECTOR, ".message.user").click()
    assert js(driver, "return window.__xss === undefined")
    assert console_errors(driver) == []


def test_phone_width_has_no_horizontal_scroll(browser, site, axe):
    driver = browser
    user = site.user("web-phone")
    headers = site.access(user)
    chat = requests.post(f"{site.url}/chats", json={"title": "Кладовая"}, headers=headers).json()
    long_word = "ОченьДлинноеСловоБезПробелов" * 6
    events = site.ask_and_wait(headers, chat["id"], f"{QUESTION} {long_word}")
    assert events[-1][0] == "completed"
    try:
        driver.set_window_size(*MOBILE)
        sign_in(driver, site, user)
        assert js(driver, "return window.innerWidth") <= MOBILE[0]
        assert no_horizontal_scroll(driver), "sign-in page scrolls sideways"
        driver.find_element(
            By().CSS_SELECTOR, f"button.chat-item[data-chat='{chat['id']}']"
        ).click()
        wait(driver, lambda d: (answer_state(d) or {}).get("state") == "stored")
        wait(driver, lambda d: js(d, "return [...document.images].every(i => i.complete)"))
        assert no_horizontal_scroll(driver), "the chat scrolls sideways"
        driver.find_element(By().CSS_SELECTOR, ".options summary").click()
        assert no_horizontal_scroll(driver), "the question form scrolls sideways"
        driver.find_element(By().CSS_SELECTOR, ".options summary").click()
        assert axe(driver) == [], "accessibility at 390 px"
        js(driver, "window.scrollTo(0, 0)")
        screenshot(driver, "page-390.png")
        driver.find_element(By().CSS_SELECTOR, ".message.assistant .thumb").click()
        wait(driver, lambda d: dialog(d))
        assert no_horizontal_scroll(driver), "the image dialog scrolls sideways"
        driver.find_element(By().CSS_SELECTOR, "dialog[open] .modal-close").click()
    finally:
        driver.set_window_size(*DESKTOP)


def test_the_ask_flow_works_with_the_keyboard_alone(browser, site):
    from selenium.webdriver.common.action_chains import ActionChains

    driver = browser
    user = site.user("web-keys")
    open_page(driver, site)
    Keys = keys()

    def press(*sequence) -> None:
        ActionChains(driver).send_keys(*sequence).perform()

    def active(selector: str) -> bool:
        return js(driver, "return document.activeElement.matches(arguments[0])", selector)

    def tab_to(selector: str, limit: int = 80) -> None:
        for _ in range(limit):
            if active(selector):
                return
            press(Keys.TAB)
        raise AssertionError(f"Tab never reached {selector}")

    assert active("#token"), "the token field is not focused on load"
    press(user.token, Keys.ENTER)
    wait(driver, lambda d: d.find_elements(By().CSS_SELECTOR, "button.new-chat"))
    tab_to("button.new-chat")
    press(Keys.ENTER)
    wait(driver, lambda d: active("#question"), message="a new chat does not focus the question")
    press(QUESTION, Keys.ENTER)
    wait_answer(driver)

    tab_to(".message.assistant .thumb")
    opener = js(driver, "return document.activeElement.textContent")
    press(Keys.ENTER)
    wait(driver, lambda d: dialog(d), message="Enter on a thumbnail did not open it")
    assert active("dialog[open] .modal-close")
    press(Keys.ESCAPE)
    wait(driver, lambda d: not dialog(d), message="Esc did not close the image")
    assert js(driver, "return document.activeElement.textContent") == opener
    assert active(".message.assistant .thumb")

    tab_to(".answer-text .cite")
    press(Keys.ENTER)
    wait(driver, lambda d: d.find_elements(By().CSS_SELECTOR, "dialog[open] .facts"))
    press(Keys.ESCAPE)
    wait(driver, lambda d: not dialog(d))
    assert active(".answer-text .cite")


def test_a_failed_answer_shows_its_code_and_can_be_asked_again(browser, site):
    """A run that ends with `error` says so with its code; «Спросить ещё раз» runs it again
    (`rerun=1`). The failure: the stream's query names a document that does not exist, as when
    a tab re-attaches after the document was removed."""
    driver = browser
    user = site.user("web-error")
    headers = site.access(user)
    chat = requests.post(f"{site.url}/chats", json={"title": "Ошибка"}, headers=headers).json()
    posted = requests.post(
        f"{site.url}/chats/{chat['id']}/messages", json={"content": QUESTION}, headers=headers
    )
    assert posted.status_code == 201
    sign_in(driver, site, user)
    gone = "document_ids=00000000-0000-4000-8000-000000000000"
    run = {"chatId": chat["id"], "query": gone, "lastId": None, "text": "", "images": []}
    js(driver, "sessionStorage.setItem('azd.run', arguments[0]);", json.dumps(run))
    driver.get_log("performance")
    driver.refresh()

    def failed(d) -> bool:
        return (answer_state(d) or {}).get("state") == "error"

    wait(driver, failed, ANSWER_TIMEOUT, "the failure was not shown")
    problem = driver.find_element(By().CSS_SELECTOR, ".message.assistant .problem").text
    assert "documents_unavailable" in problem, problem
    assert not driver.find_element(By().CSS_SELECTOR, "button.ask").get_attribute("disabled")
    seen: list[dict] = []

    def rerun_sent(d) -> bool:
        seen.extend(stream_requests(d))  # Chromium hands each log entry out once
        return any("rerun=1" in r["url"] for r in seen)

    driver.find_element(By().CSS_SELECTOR, ".message.assistant button.retry").click()
    wait(driver, rerun_sent, message="no rerun request")
    wait(driver, failed, ANSWER_TIMEOUT, "the second run did not end")
    assert "documents_unavailable" in driver.find_element(By().CSS_SELECTOR, ".problem").text
    assert js(driver, "return sessionStorage.getItem('azd.run')") is None

    # the page never put a token in a URL, and the server logged none
    log = site.server.log.read_text(errors="replace")
    assert user.token not in log and "Bearer" not in log
    assert js(driver, "return sessionStorage.getItem('azd.jwt')") not in log


def test_chats_rename_delete_and_switching_away_mid_answer(browser, site):
    """Leaving a chat while its answer is written and coming back re-attaches to the run; a chat
    is renamed and deleted from the page (the deletion confirmed in a dialog)."""
    driver = browser
    user = site.user("web-chats")
    sign_in(driver, site, user)
    new_chat_with_demo(driver, site)
    ask(driver)
    wait(driver, lambda d: len((answer_state(d) or {}).get("text", "")) > 20)
    first = js(driver, "return sessionStorage.getItem('azd.chat')")
    driver.find_element(By().CSS_SELECTOR, "button.new-chat").click()  # away, mid-answer
    wait(driver, lambda d: js(d, "return sessionStorage.getItem('azd.chat')") not in (None, first))
    second = js(driver, "return sessionStorage.getItem('azd.chat')")
    assert not driver.find_elements(By().CSS_SELECTOR, ".message.assistant")
    driver.find_element(By().CSS_SELECTOR, f"button.chat-item[data-chat='{first}']").click()
    final = wait_answer(driver)
    history = requests.get(f"{site.url}/chats/{first}", headers=site.access(user), timeout=10)
    stored = history.json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert "Кладовая 107" in final["text"] and "DEMO-PLAN-001" in final["text"]

    chats = driver.find_elements(By().CSS_SELECTOR, "button.chat-item")
    assert [c.get_attribute("data-chat") for c in chats][:2] == [first, second]  # newest first
    driver.find_element(By().XPATH, "//button[normalize-space()='Переименовать']").click()
    field = driver.find_element(By().CSS_SELECTOR, ".rename-form input")
    field.clear()
    field.send_keys("Кладовая, 1-й этаж" + keys().ENTER)
    wait(driver, lambda d: d.find_element(By().ID, "chat-title").text == "Кладовая, 1-й этаж")
    listed = driver.find_element(By().CSS_SELECTOR, f"button.chat-item[data-chat='{first}']")
    assert "Кладовая, 1-й этаж" in listed.text

    driver.find_element(By().XPATH, "//button[normalize-space()='Удалить']").click()
    wait(driver, lambda d: dialog(d))
    driver.find_element(By().CSS_SELECTOR, "dialog[open] button.danger").click()
    wait(driver, lambda d: not d.find_elements(By().CSS_SELECTOR, f"[data-chat='{first}']"))
    gone = requests.get(f"{site.url}/chats/{first}", headers=site.access(user), timeout=10)
    assert gone.status_code == 404


def test_markdown_renderer_and_sse_parser_in_the_browser(browser, site):
    """The page's own modules, loaded as the page loads them: Markdown is rendered with its
    subset and nothing else (no HTML, only http(s) links); the SSE parser copes with events
    split anywhere, CRLF, comments and multi-line data."""
    driver = browser
    open_page(driver, site)
    base = driver.find_element(By().ID, "app").get_attribute("data-assets")
    result = driver.execute_async_script(
        """const [base, done] = arguments;
        Promise.all([import(base + '/markdown.js'), import(base + '/sse.js')]).then(([md, sse]) => {
          const render = (text) => {
            const div = document.createElement('div');
            div.append(md.renderMarkdown(text, {citation: (id) => {
              const b = document.createElement('button'); b.className = 'cite';
              b.textContent = id; return b; }}));
            return div;
          };
          const out = {};
          let d = render('# Заголовок\\n\\nАбзац **жирный** и *курсив*, `<код>`.\\n' +
                         'Вторая строка [#AB-1].');
          out.heading = d.querySelector('h3')?.textContent;
          out.paragraphs = d.querySelectorAll('p').length;
          out.inline = [...d.querySelectorAll('strong, em, code, br, button.cite')]
              .map(e => e.tagName + ':' + e.textContent);
          d = render('- один\\n- два\\n  - вложенный\\n\\n1. первый\\n2. второй');
          out.lists = [...d.querySelectorAll('ul, ol')].map(l => l.tagName + l.children.length);
          out.nested = d.querySelector('ul li ul li')?.textContent;
          d = render('| Лист | Название |\\n|---|---|\\n| 1 | План |\\n| 2 | Разрез |');
          out.table = [...d.querySelectorAll('th, td')].map(c => c.textContent);
          d = render('```\\n<script>x()</script>\\n```\\n> цитата');
          out.code = d.querySelector('pre code')?.textContent;
          out.quote = d.querySelector('blockquote')?.textContent;
          d = render('[ok](https://example.com/a?b=1) [no](javascript:alert(1)) ' +
                     '[rel](/chats) [data](data:text/html,x) https://example.org/x.');
          out.links = [...d.querySelectorAll('a')].map(a => [a.href, a.rel, a.target]);
          out.linkText = d.textContent;
          d = render('<img src=x onerror=alert(1)><script>alert(1)</script>');
          out.elements = d.querySelectorAll('*').length;
          const parser = new sse.SSEParser();
          const events = [];
          const pieces = ['id: 1\\r', '\\nevent: llm_token\\r\\ndata: {"a"', ':1}\\r\\n\\r\\n',
                          ': ping\\n\\n', 'id: 2\\nevent: x\\ndata: one\\ndata: two\\n', '\\n'];
          for (const piece of pieces)
            events.push(...parser.feed(piece));
          out.events = events;
          done(out);
        }, (e) => done({error: String(e)}));""",
        base,
    )
    assert "error" not in result, result
    assert result["heading"] == "Заголовок" and result["paragraphs"] == 1  # lines joined by <br>
    assert result["inline"] == [
        "STRONG:жирный",
        "EM:курсив",
        "CODE:<код>",
        "BR:",
        "BUTTON:AB-1",
    ]
    assert result["lists"] == ["UL2", "UL1", "OL2"] and result["nested"] == "вложенный"
    assert result["table"] == ["Лист", "Название", "1", "План", "2", "Разрез"]
    assert result["code"] == "<script>x()</script>" and result["quote"] == "цитата"
    assert result["links"] == [
        ["https://example.com/a?b=1", "noopener noreferrer nofollow", "_blank"],
        ["https://example.org/x", "noopener noreferrer nofollow", "_blank"],
    ]
    assert "[no](javascript:alert(1))" in result["linkText"]
    assert "[data](data:text/html,x)" in result["linkText"]
    assert result["elements"] == 1  # one paragraph of text, no element from the markup
    assert result["events"] == [
        {"id": "1", "event": "llm_token", "data": '{"a":1}'},
        {"id": "2", "event": "x", "data": "one\ntwo"},
    ]


def test_question_options_mode_role_and_an_attached_file(browser, site, tmp_path):
    """Mode and role are the user's settings (saved through PATCH /me/settings); a file is
    uploaded at once and attached to the next question."""
    role = site.server.flask(
        "roles", "add", "Конструктор", "--content", "Отвечай как инженер-конструктор."
    )
    assert role.returncode == 0, role.stderr
    driver = browser
    user = site.user("web-options")
    sign_in(driver, site, user)
    driver.find_element(By().CSS_SELECTOR, ".options summary").click()
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By().ID, "mode")).select_by_value("complex")
    Select(driver.find_element(By().ID, "role")).select_by_visible_text("Конструктор")

    def settings() -> dict:
        me = requests.get(f"{site.url}/me", headers=site.access(user), timeout=10)
        return me.json()["settings"]

    wait(driver, lambda d: settings()["selected_role_prompt_id"] is not None)
    assert settings()["model_profile"] == "complex"

    note = tmp_path / "замечания.txt"
    note.write_text("Проверить толщину стены по оси А.", encoding="utf-8")
    driver.find_element(By().ID, "file").send_keys(str(note))
    chip = wait(driver, lambda d: d.find_elements(By().CSS_SELECTOR, ".settings .chip"))
    assert "замечания.txt" in chip[0].text

    driver.refresh()  # the settings come back from the server
    chosen = (
        "const mode = document.getElementById('mode'), role = document.getElementById('role');"
        "return [mode.value, role.selectedOptions[0] && role.selectedOptions[0].textContent];"
    )
    wait(
        driver,
        lambda d: d.find_elements(By().ID, "role") and js(d, chosen)[0] == "complex",
        message="the mode did not come back",
    )
    assert js(driver, chosen) == ["complex", "Конструктор"]
