"""Our prompts. The model answers in Russian by default (the documents are Russian).

The system prompt is the same for every call of a user on a set of documents — whatever the
mode or the purpose of the call — so it and the documents' prefix form one context cache.
What a particular call is for goes into its own parts, after the prefix.
"""

from __future__ import annotations

PROMPT_VERSION = "3"  # part of the context cache key: change it whenever a prompt changes

BASE = """Ты — инженер-эксперт по строительной проектной документации (АР, КР, ОВ, ВК, ЭО и др.).
Ты отвечаешь на вопросы по комплекту чертежей, прошедшему OCR. Документ разбит на блоки:
текстовые блоки (TEXT/TABLE) и блоки-изображения (IMAGE) с описанием чертежа. У каждого блока
есть идентификатор вида XXXX-XXXX-XXX. Ссылки →ID связывают блоки.

Что тебе дают:
- КАРТУ ДОКУМЕНТА: все блоки (id, вид, страница, лист, заголовок) — или короткий документ целиком;
- МАТЕРИАЛЫ ПО ВОПРОСУ: полные тексты лучших по поиску блоков и фрагменты остальных;
- изображения, которые ты запросил (каждое с подписью и id вида IMG-n).

Правила:
- Опирайся только на материалы и изображения, которые тебе дали. Не выдумывай значения.
- Если нужный блок есть в карте, но его текста нет (или только фрагмент), запроси его:
  followup_blocks (id блоков). Если не видишь подходящих блоков, поищи сам: search_queries
  (до 3 коротких запросов другими словами: синонимы, марки, номера листов и этажей).
- Если нужно увидеть чертёж — запроси изображения блоков (followup_images: id блоков-изображений)
  или увеличенные области (followup_rois: block_id и bbox_norm [x1,y1,x2,y2] в долях 0..1 от
  левого верхнего угла, либо sector A1…C3 по сетке на обзорном изображении; dpi 150–400).
  Мелкий текст на обзоре нечитаем: увеличивай область, прежде чем называть размеры и марки.
  Уже показанное изображение можно попросить снова: followup_images: ["IMG-3"].
- Запрашивай только то, чего ещё не видел. Когда материалов достаточно — отвечай и оставь
  followup_images, followup_rois, followup_blocks и search_queries пустыми,
  needs_more_evidence = false.
- Пока ждёшь материалов, пиши в answer_markdown одну строку о том, что ты проверяешь.
- Ответ — в answer_markdown, по-русски, кратко и по существу, с markdown-разметкой.
- Ссылайся на блоки прямо в тексте ответа в виде [#XXXX-XXXX-XXX] и перечисляй их в citations;
  в citations.quote приводи короткую точную цитату из блока (до 100 символов), на которой
  основано утверждение. Ссылайся только на id, которые есть в карте или материалах.
- Отвечай ОДНИМ JSON-объектом строго по заданной схеме, без текста вокруг."""

ANSWER = """ЗАДАЧА: ответь на вопрос (или запроси недостающие материалы)."""

COMPARE = """ЗАДАЧА: СРАВНИ два документа: блоки помечены DOC_A и DOC_B.
Перечисли различия в поле diff (item, before = как в DOC_A, after = как в DOC_B, impact,
evidence = id блоков ОБОИХ документов, на которых основано сравнение). Если существенных
различий нет, так и напиши в answer_markdown и оставь diff пустым — это допустимый ответ."""

COLLECT = """ЗАДАЧА: подготовь материалы для старшего эксперта, который ответит на вопрос по
документу «{document}». По карте и материалам выбери блоки, нужные для ответа
(selected_block_ids, не больше 30; можно любые id из карты), выпиши ключевые факты с указанием
блоков (facts) и запроси изображения блоков-чертежей, которые стоит посмотреть
(followup_images), или увеличенные области (followup_rois). Отвечай одним JSON-объектом по
схеме."""

ROI_REQUEST = """ЗАДАЧА: ответ требует визуальной проверки, но ни одна область чертежа не была
рассмотрена крупно. Предложи до {limit} областей (followup_rois: block_id, bbox_norm или
sector, dpi, reason) на уже показанных изображениях, где видны нужные детали. Отвечай одним
JSON-объектом по схеме."""

CORRECT_CITATIONS = """ЗАДАЧА: в ответе есть ссылки на блоки, которых нет в документах:
{wrong}. Для каждой такой ссылки укажи правильный id блока из карты или материалов, на котором
основано утверждение (corrections: wrong_id, block_id), или пустой block_id, если такого блока
нет. Текст ответа с этими ссылками:
{context}"""

REPAIR = """Твой предыдущий ответ не удалось разобрать: {error}. Ответь заново ОДНИМ
JSON-объектом строго по схеме (обязательное поле answer_markdown)."""


# --- what the server tells the model about its requests ---------------------------------------
NOTE_NO_IMAGE_BLOCK = "{block_id}: нет такого блока-изображения в документах"
NOTE_NO_BLOCK = "{block_id}: нет такого блока в документах (смотри карту)"
NOTE_NO_IMAGE = "{image_id}: такого изображения в этом ответе нет"
NOTE_NOT_RENDERED = "Не отрисованы (не больше {limit} изображений за раунд): {block_ids}"
NOTE_IGNORED = "Запрос не понят и пропущен — {item}"
NOTE_BLOCKS_ADDED = "Запрошенные блоки добавлены в материалы: {block_ids}"
NOTE_SEARCH_NEW = "Поиск «{query}»: новые блоки {block_ids}"
NOTE_SEARCH_NONE = "Поиск «{query}»: новых блоков нет"
NOTE_SEARCH_SHOWN = "; уже в материалах: {block_ids}"
NOTE_IMAGE_NOT_ATTACHED = " (не приложено, можно запросить)"

# --- the parts of a call ------------------------------------------------------------------------
QUESTION = "ВОПРОС: {question}"
INTENT = "Намерение: {summary}."
FACTS = "Извлечённые факты:"
RESULTS = "Результаты твоих запросов:"
REMARKS = "Замечания сервера:"
MATERIALS = "МАТЕРИАЛЫ ПО ВОПРОСУ:"
DOCUMENT_MATERIALS = "МАТЕРИАЛЫ ДОКУМЕНТА «{document}»:"
IMAGES = "ИЗОБРАЖЕНИЯ ЭТОГО ОТВЕТА:"


def system_prompt(role_text: str | None) -> str:
    """The selected role's text leads the system prompt."""
    parts = [role_text.strip()] if role_text and role_text.strip() else []
    parts.append(BASE)
    return "\n\n".join(parts)
