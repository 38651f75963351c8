"""Abbreviations of Russian construction documents and a few domain synonyms, usable both ways.

A question may say "ГИП" where the title page says "Главный инженер проектов", or the other way
round; "сколько весит" where a table has "Масса". Each entry is a group of interchangeable forms;
a question that contains one form is also matched against the others (with a lower weight, see
`webapp.documents.query`). Forms are written as people write them and analyzed like any text, so
"ж.б.", "ж/б" and "ЖБ" need no special handling. To extend, add a line to the data below.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# Abbreviation → its expansions (every inflected form is covered by stemming).
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "ГИП": ("главный инженер проекта", "главный инженер проектов"),
    "ГАП": ("главный архитектор проекта", "главный архитектор проектов"),
    "ГКП": ("главный конструктор проекта",),
    "АР": ("архитектурные решения",),
    "АС": ("архитектурно-строительные решения",),
    "АИ": ("архитектурные решения интерьеров", "интерьеры"),
    "КЖ": ("конструкции железобетонные",),
    "КЖИ": ("конструкции железобетонные изделия", "железобетонные изделия"),
    "КМ": ("конструкции металлические",),
    "КМД": ("конструкции металлические деталировочные",),
    "КД": ("конструкции деревянные",),
    "КР": ("конструктивные решения",),
    "ОВ": ("отопление и вентиляция", "отопление вентиляция и кондиционирование"),
    "ОВиК": ("отопление вентиляция и кондиционирование",),
    "ВК": ("водопровод и канализация", "водоснабжение и канализация"),
    "ЭОМ": ("электрооборудование и электроосвещение", "силовое электрооборудование"),
    "ЭМ": ("силовое электрооборудование", "электрооборудование"),
    "ЭО": ("электроосвещение", "электрическое освещение"),
    "ЭС": ("электроснабжение",),
    "СС": ("сети связи", "системы связи"),
    "ПС": ("пожарная сигнализация",),
    "АПС": ("автоматическая пожарная сигнализация",),
    "СОУЭ": ("система оповещения и управления эвакуацией",),
    "ТХ": ("технологические решения",),
    "ГП": ("генеральный план", "генплан"),
    "ПОС": ("проект организации строительства",),
    "ППР": ("проект производства работ",),
    "ВОР": ("ведомость объемов работ",),
    "ПЗ": ("пояснительная записка",),
    "РД": ("рабочая документация",),
    "ПД": ("проектная документация",),
    "СП": ("свод правил",),
    "ГОСТ": ("государственный стандарт",),
    "СНиП": ("строительные нормы и правила",),
    "ТУ": ("технические условия",),
    "СТУ": ("специальные технические условия",),
    "ТЗ": ("техническое задание", "задание на проектирование"),
    "МОП": ("места общего пользования", "места общего пользования"),
    "ЛК": ("лестничная клетка",),
    "ИТП": ("индивидуальный тепловой пункт",),
    "ТП": ("трансформаторная подстанция",),
    "ГРЩ": ("главный распределительный щит",),
    "ВРУ": ("вводно-распределительное устройство",),
    "ЖБ": ("железобетон", "железобетонный", "ж.б.", "ж/б"),
    "ПБ": ("пожарная безопасность",),
    "ППУ": ("пенополиуретан",),
    "НФС": ("навесная фасадная система",),
    "ГКЛ": ("гипсокартонный лист", "гипсокартон"),
    "ГВЛ": ("гипсоволокнистый лист",),
    "ЦПС": ("цементно-песчаная смесь",),
    "ЦПР": ("цементно-песчаный раствор",),
    "ЦСП": ("цементно-стружечная плита",),
    "МВП": ("минераловатная плита", "минераловатные плиты"),
    "ЭППС": ("экструдированный пенополистирол", "XPS"),
    "ГИ": ("гидроизоляция",),
    "ДШ": ("деформационный шов", "Д.ш."),
    "МГН": ("маломобильные группы населения",),
    "ВИК": ("визуальный и измерительный контроль",),
    "ЖК": ("жилой комплекс",),
    "УГО": ("условные графические обозначения", "условные обозначения"),
}

# Groups of words or phrases that mean the same to an engineer asking about a drawing set.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("проем", "отверстие"),
    ("люк", "лючок"),
    ("масса", "вес", "весит"),
    ("утеплитель", "теплоизоляция", "утепление"),
    ("огнестойкость", "REI", "EI"),
    ("кладка", "стена"),
    ("кровля", "крыша"),
    ("водосточная воронка", "водосток"),
    ("помещение", "комната"),
    ("экспликация помещений", "перечень помещений", "список помещений", "площади помещений"),
    ("ведомость рабочих чертежей", "перечень листов", "состав комплекта", "список листов",
     "содержание комплекта"),
    ("общие указания", "общие данные", "примечания"),
    ("условные обозначения", "легенда"),
    ("газобетон", "газобетонные блоки", "газоблок"),
    ("вход", "входная дверь", "тамбур", "вестибюль"),
    ("лестница", "лестничная клетка", "лестничный марш"),
    ("дверь", "дверной проем"),
    ("окно", "оконный проем"),
    ("парапет", "ограждение кровли"),
    ("узел", "деталь"),
    ("окраска", "окрашивание", "покраска", "красить", "окрашены", "окрасить", "окрашивать"),
    ("крепление", "крепить", "закрепить", "крепеж"),
    ("разработчик", "проектировщик", "генпроектировщик"),
)
# Abbreviations that are also ordinary words in lower case: matched only when written in capitals.
CASE_SENSITIVE = frozenset({"ТУ", "ТЗ"})

ABBREVIATION = "abbreviation"
SYNONYM = "synonym"


@dataclass(frozen=True)
class Form:
    """One way of saying a glossary entry: its analyzed terms and the entry it belongs to."""

    terms: tuple[str, ...]
    entry: int
    kind: str
    surface: str
    case_sensitive: bool


@dataclass(frozen=True)
class Glossary:
    """All forms, indexed by their first term for matching inside a question."""

    forms: tuple[Form, ...]
    by_first_term: dict[str, tuple[Form, ...]]
    entries: tuple[tuple[Form, ...], ...]

    def alternatives(self, form: Form) -> tuple[Form, ...]:
        """The other forms of the entry `form` belongs to (distinct term sequences)."""
        return tuple(other for other in self.entries[form.entry] if other.terms != form.terms)


def _terms(surface: str) -> tuple[str, ...]:
    from webapp.documents.analysis import analyze_query

    return tuple(analyze_query(surface))


@lru_cache(maxsize=1)
def glossary() -> Glossary:
    """The compiled glossary (analyzed once per process)."""
    groups: list[tuple[str, tuple[str, ...]]] = [
        (ABBREVIATION, (abbreviation, *expansions))
        for abbreviation, expansions in ABBREVIATIONS.items()
    ]
    groups += [(SYNONYM, group) for group in SYNONYMS]
    forms: list[Form] = []
    entries: list[tuple[Form, ...]] = []
    for number, (kind, surfaces) in enumerate(groups):
        entry_forms: list[Form] = []
        for surface in surfaces:
            terms = _terms(surface)
            if terms and all(terms != form.terms for form in entry_forms):
                entry_forms.append(Form(terms, number, kind, surface, surface in CASE_SENSITIVE))
        forms.extend(entry_forms)
        entries.append(tuple(entry_forms))
    index: dict[str, list[Form]] = {}
    for form in forms:
        index.setdefault(form.terms[0], []).append(form)
    return Glossary(
        tuple(forms),
        {term: tuple(sorted(group, key=lambda f: -len(f.terms))) for term, group in index.items()},
        tuple(entries),
    )
