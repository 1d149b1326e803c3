"""The national 政府信息公开工作年度报告 template as data: keys, labels, aliases and hard identities.

One place for everything the parser knows about the template (DOMAIN.md). A new format revision is a
new `Template` value in `TEMPLATES`, not new code.

Note for report/normalize|sections|metadata|checks|parse (P2): the table reader (report.tables)
returns `readings.TableReadings` unchanged in shape; identities for the checks come from
`identities(fmt)` below (each is "sum(lhs) == sum(rhs)" over dotted canonical keys).

Label matching is done on whitespace-free, NFKC-normalised text: `match` entries are substrings
distinctive enough to name a row on their own (including the label's opening words, which survive
when a PDF wraps the label and prints the row's numbers between its lines); `prefix` is the item
number printed before the label ("1.", "（一）", "一、") which a glued run may have fused with the
previous row's last number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from report.readings import ReportFormat

# ----------------------------------------------------------------------------- table 二


@dataclass(frozen=True)
class DisclosureRow:
    """A row of table 二: `key` (e.g. "regulations") with its fields in printed column order."""

    key: str
    label: str
    fields: tuple[str, ...]
    aliases: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.aliases)


@dataclass(frozen=True)
class DisclosureBlock:
    """A 第二十条第（N）项 block: its title, column header labels (after 信息内容) and rows."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[DisclosureRow, ...]
    # header variants seen in the wild (truncated, annotated); for format detection
    header_aliases: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- table 三


@dataclass(frozen=True)
class ApplicationRow:
    key: str
    label: str  # the label without its item number
    prefix: str  # the item number as printed: "一、", "（一）", "1."
    block: str  # "top" (一/二), "result" (under 三、本年度办理结果), "bottom" (四)
    group: str | None  # （三）不予公开 … ; None for rows that stand alone
    match: tuple[str, ...]  # distinctive substrings, any of which names this row

    @property
    def full_label(self) -> str:
        return self.prefix + self.label


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    aliases: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- identities


@dataclass(frozen=True)
class Identity:
    """A hard identity: sum of `lhs` cells == sum of `rhs` cells (blank counts as 0).

    `check` is the DOMAIN.md name ("applications.balance", "applications.outcomes",
    "applications.row_total", "review_litigation.group_total"); `scope` the column, row or group.
    """

    check: str
    scope: str
    lhs: tuple[str, ...]
    rhs: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return self.lhs + self.rhs


@dataclass(frozen=True)
class Template:
    format: ReportFormat
    disclosure: tuple[DisclosureBlock, ...]
    application_rows: tuple[ApplicationRow, ...]
    # group label → fuzzy match keys (group rows carry no numbers of their own)
    application_groups: dict[str, tuple[str, ...]] = field(hash=False)
    # identity specs as data, expanded by identities():
    # balance per column: sum(balance_lhs rows) == sum(balance_rhs rows)
    balance_lhs: tuple[str, ...] = ("new_received", "carried_over")
    balance_rhs: tuple[str, ...] = ("total_handled", "carried_forward")
    outcomes_total: str = "total_handled"
    # dotted table-二 keys whose value is a decimal / may be negative
    decimal_keys: frozenset[str] = frozenset()
    signed_keys: frozenset[str] = frozenset()

    # --- derived views
    @property
    def application_keys(self) -> tuple[str, ...]:
        return tuple(r.key for r in self.application_rows)

    @property
    def outcome_keys(self) -> tuple[str, ...]:
        """Rows that add up to total_handled (identity 2)."""
        return tuple(
            r.key for r in self.application_rows if r.block == "result" and r.key != self.outcomes_total
        )

    def application_row(self, key: str) -> ApplicationRow:
        for r in self.application_rows:
            if r.key == key:
                return r
        raise KeyError(key)

    @property
    def disclosure_rows(self) -> tuple[DisclosureRow, ...]:
        return tuple(r for b in self.disclosure for r in b.rows)


# ----------------------------------------------------------------------------- shared data

APPLICATION_SECTION = "applications"
DISCLOSURE_SECTION = "active_disclosure"
REVIEW_SECTION = "review_litigation"

APPLICANT_COLUMNS: tuple[Column, ...] = (
    Column("natural_person", "自然人"),
    Column("commercial_enterprise", "商业企业", ("商业企\n业",)),
    Column("research_institution", "科研机构"),
    Column("social_welfare_organization", "社会公益组织"),
    Column("legal_service_institution", "法律服务机构"),
    Column("other_organization", "其他"),
    Column("total", "总计"),
)
APPLICANT_KEYS: tuple[str, ...] = tuple(c.key for c in APPLICANT_COLUMNS[:-1])  # summed into total
COLUMN_TOTAL = "total"
BALANCE_NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
RESULT_BLOCK_LABEL = "三、本年度办理结果"
APPLICANT_HEADER_LABELS = ("申请人情况", "法人或其他组织")

REVIEW_GROUPS: tuple[Column, ...] = (
    Column("review", "行政复议"),
    Column("litigation_direct", "未经复议直接起诉"),
    Column("litigation_after_review", "复议后起诉"),
)
REVIEW_ITEMS: tuple[Column, ...] = (
    Column("upheld", "结果维持", ("维持",)),
    Column("corrected", "结果纠正", ("纠正",)),
    Column("other", "其他结果"),
    Column("pending", "尚未审结", ("未审结",)),
    Column("total", "总计"),
)
REVIEW_PARTS: tuple[str, ...] = tuple(c.key for c in REVIEW_ITEMS[:-1])
REVIEW_TOTAL = "total"
REVIEW_HEADER_LABELS = ("行政复议", "行政诉讼", "未经复议直接起诉", "复议后起诉")

# Cell texts that mean "blank" (value None). "·" is how render_text_layouts' grid prints a blank.
PLACEHOLDERS: frozenset[str] = frozenset({"", "/", "-", "—", "–", "－", "——", "无", "／", "·", "\\", "--"})

_TOP = (
    ApplicationRow("new_received", "本年新收政府信息公开申请数量", "一、", "top", None, ("本年新收",)),
    ApplicationRow("carried_over", "上年结转政府信息公开申请数量", "二、", "top", None, ("上年结转",)),
    ApplicationRow("granted", "予以公开", "（一）", "result", None, ("予以公开",)),
    ApplicationRow(
        "partially_granted",
        "部分公开（区分处理的，只计这一情形，不计其他情形）",
        "（二）",
        "result",
        None,
        ("部分公开",),
    ),
)
_G3, _G4, _G5, _G6 = "（三）不予公开", "（四）无法提供", "（五）不予处理", "（六）其他处理"
_DENIED = (
    ApplicationRow("denied_state_secret", "属于国家秘密", "1.", "result", _G3, ("国家秘密",)),
    ApplicationRow(
        "denied_prohibited_by_law",
        "其他法律行政法规禁止公开",
        "2.",
        "result",
        _G3,
        ("法律行政法规禁止", "行政法规禁止", "禁止公开", "其他法律"),
    ),
    ApplicationRow(
        "denied_security_stability",
        "危及“三安全一稳定”",
        "3.",
        "result",
        _G3,
        ("三安全一稳定", "三安全", "一稳定"),
    ),
    ApplicationRow(
        "denied_third_party_rights",
        "保护第三方合法权益",
        "4.",
        "result",
        _G3,
        ("第三方合法权益", "第三方", "保护第三"),
    ),
    ApplicationRow(
        "denied_internal_affairs", "属于三类内部事务信息", "5.", "result", _G3, ("内部事务", "三类内部")
    ),
    ApplicationRow(
        "denied_process_information", "属于四类过程性信息", "6.", "result", _G3, ("过程性", "四类过程")
    ),
    ApplicationRow(
        "denied_law_enforcement_files", "属于行政执法案卷", "7.", "result", _G3, ("执法案卷", "行政执法")
    ),
    ApplicationRow("denied_administrative_query", "属于行政查询事项", "8.", "result", _G3, ("行政查询",)),
)
_UNABLE = (
    ApplicationRow("unable_not_held", "本机关不掌握相关政府信息", "1.", "result", _G4, ("不掌握",)),
    ApplicationRow(
        "unable_needs_creation", "没有现成信息需要另行制作", "2.", "result", _G4, ("另行制作", "没有现成")
    ),
    ApplicationRow(
        "unable_unclear",
        "补正后申请内容仍不明确",
        "3.",
        "result",
        _G4,
        ("仍不明确", "内容不明确", "补正后申请"),
    ),
)
_NOT_PROCESSED = (
    ApplicationRow(
        "not_processed_complaint",
        "信访举报投诉类申请",
        "1.",
        "result",
        _G5,
        ("信访举报", "举报投诉", "投诉类"),
    ),
    ApplicationRow("not_processed_duplicate", "重复申请", "2.", "result", _G5, ("重复申请",)),
    ApplicationRow(
        "not_processed_publication",
        "要求提供公开出版物",
        "3.",
        "result",
        _G5,
        ("公开出版物", "出版物", "要求提供公开"),
    ),
    ApplicationRow(
        "not_processed_excessive", "无正当理由大量反复申请", "4.", "result", _G5, ("大量反复", "理由大量")
    ),
    ApplicationRow(
        "not_processed_confirmation",
        "要求行政机关确认或重新出具已获取信息",
        "5.",
        "result",
        _G5,
        ("重新出具", "确认或重新", "要求行政机关确认"),
    ),
)
_OTHER_2021 = (
    ApplicationRow(
        "other_no_correction",
        "申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
        "1.",
        "result",
        _G6,
        ("逾期不补正", "不补正", "正当理由逾期"),
    ),
    ApplicationRow(
        "other_unpaid_fee",
        "申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
        "2.",
        "result",
        _G6,
        ("缴纳费用", "收费通知", "逾期未按"),
    ),
    # "其他" alone is also a column header: the reader only accepts this right after other_unpaid_fee
    ApplicationRow("other_other", "其他", "3.", "result", _G6, ("3.其他", "3、其他", "其他")),
)
_OTHER_TRIAL = (ApplicationRow("other", "其他处理", "（六）", "result", None, ("其他处理",)),)
_BOTTOM = (
    ApplicationRow("total_handled", "总计", "（七）", "result", None, ("（七）总计", "七）总计", "(七)总计")),
    ApplicationRow(
        "carried_forward",
        "结转下年度继续办理",
        "四、",
        "bottom",
        None,
        ("结转下年度", "下年度继续办理", "结转下年"),
    ),
)
_GROUPS: dict[str, tuple[str, ...]] = {
    _G3: ("不予公开",),
    _G4: ("无法提供",),
    _G5: ("不予处理",),
    _G6: ("其他处理",),
}

_BLOCK_1 = "第二十条第（一）项"
_BLOCK_5 = "第二十条第（五）项"
_BLOCK_6 = "第二十条第（六）项"
_BLOCK_8 = "第二十条第（八）项"
_BLOCK_9 = "第二十条第（九）项"

TEMPLATE_2021 = Template(
    format=ReportFormat.V2021,
    disclosure=(
        DisclosureBlock(
            _BLOCK_1,
            ("本年制发件数", "本年废止件数", "现行有效件数"),
            (
                DisclosureRow("regulations", "规章", ("issued", "repealed", "in_force")),
                DisclosureRow(
                    "normative_documents",
                    "行政规范性文件",
                    ("issued", "repealed", "in_force"),
                    ("规范性文件", "规范性档案"),
                ),
            ),
            ("本年发件", "本年制发", "本年废止", "现行有效件", "现行有效"),
        ),
        DisclosureBlock(
            _BLOCK_5, ("本年处理决定数量",), (DisclosureRow("licensing", "行政许可", ("decisions",)),)
        ),
        DisclosureBlock(
            _BLOCK_6,
            ("本年处理决定数量",),
            (
                DisclosureRow("penalty", "行政处罚", ("decisions",)),
                DisclosureRow("enforcement", "行政强制", ("decisions",)),
            ),
        ),
        DisclosureBlock(
            _BLOCK_8,
            ("本年收费金额（单位：万元）",),
            (DisclosureRow("fees", "行政事业性收费", ("amount_10k_yuan",)),),
            ("本年收费金额",),
        ),
    ),
    application_rows=_TOP + _DENIED + _UNABLE + _NOT_PROCESSED + _OTHER_2021 + _BOTTOM,
    application_groups=_GROUPS,
    decimal_keys=frozenset({"active_disclosure.fees.amount_10k_yuan"}),
)

_TRIAL_COUNTS = ("previous_year", "change", "decisions")
TEMPLATE_2019_TRIAL = Template(
    format=ReportFormat.TRIAL_2019,
    disclosure=(
        DisclosureBlock(
            _BLOCK_1,
            ("本年新制作数量", "本年新公开数量", "对外公开总数量"),
            (
                DisclosureRow("regulations", "规章", ("new_made", "new_published", "total_published")),
                DisclosureRow(
                    "normative_documents",
                    "规范性文件",
                    ("new_made", "new_published", "total_published"),
                    ("行政规范性文件", "规范性档案"),
                ),
            ),
            ("本年新制作", "本年新公开", "对外公开总"),
        ),
        DisclosureBlock(
            _BLOCK_5,
            ("上一年项目数量", "本年增/减", "处理决定数量"),
            (
                DisclosureRow("licensing", "行政许可", _TRIAL_COUNTS),
                DisclosureRow(
                    "other_admin_services", "其他对外管理服务事项", _TRIAL_COUNTS, ("对外管理服务",)
                ),
            ),
            ("本年增减", "本年增/减"),
        ),
        DisclosureBlock(
            _BLOCK_6,
            ("上一年项目数量", "本年增/减", "处理决定数量"),
            (
                DisclosureRow("penalty", "行政处罚", _TRIAL_COUNTS),
                DisclosureRow("enforcement", "行政强制", _TRIAL_COUNTS),
            ),
        ),
        DisclosureBlock(
            _BLOCK_8,
            ("上一年项目数量", "本年增/减"),
            (DisclosureRow("fees", "行政事业性收费", ("previous_year", "change")),),
        ),
        DisclosureBlock(
            _BLOCK_9,
            ("采购项目数量", "采购总金额"),
            (DisclosureRow("procurement", "政府集中采购", ("projects", "amount_yuan")),),
        ),
    ),
    application_rows=_TOP + _DENIED + _UNABLE + _NOT_PROCESSED + _OTHER_TRIAL + _BOTTOM,
    application_groups={k: v for k, v in _GROUPS.items() if k != _G6},
    decimal_keys=frozenset({"active_disclosure.procurement.amount_yuan"}),
    signed_keys=frozenset(
        f"active_disclosure.{row}.change"
        for row in ("licensing", "other_admin_services", "penalty", "enforcement", "fees")
    ),
)

TEMPLATES: dict[ReportFormat, Template] = {
    ReportFormat.V2021: TEMPLATE_2021,
    ReportFormat.TRIAL_2019: TEMPLATE_2019_TRIAL,
}


def template(fmt: ReportFormat | str) -> Template:
    """The template of a format with tables; KeyError for pre-2019 (it has none)."""
    return TEMPLATES[ReportFormat(fmt)]


# ----------------------------------------------------------------------------- keys


@cache
def disclosure_keys(fmt: ReportFormat | str) -> tuple[str, ...]:
    t = template(fmt)
    return tuple(f"{DISCLOSURE_SECTION}.{r.key}.{f}" for r in t.disclosure_rows for f in r.fields)


@cache
def application_keys(fmt: ReportFormat | str) -> tuple[str, ...]:
    t = template(fmt)
    return tuple(
        f"{APPLICATION_SECTION}.{r.key}.{c.key}" for r in t.application_rows for c in APPLICANT_COLUMNS
    )


@cache
def review_keys() -> tuple[str, ...]:
    return tuple(f"{REVIEW_SECTION}.{g.key}.{i.key}" for g in REVIEW_GROUPS for i in REVIEW_ITEMS)


def all_keys(fmt: ReportFormat | str) -> list[str]:
    """Every dotted canonical numeric key of a format, in table order (2021: 200 keys)."""
    return [*disclosure_keys(fmt), *application_keys(fmt), *review_keys()]


def app_key(row: str, col: str) -> str:
    return f"{APPLICATION_SECTION}.{row}.{col}"


def review_key(group: str, item: str) -> str:
    return f"{REVIEW_SECTION}.{group}.{item}"


def is_decimal_key(fmt: ReportFormat | str, key: str) -> bool:
    return key in template(fmt).decimal_keys


def is_signed_key(fmt: ReportFormat | str, key: str) -> bool:
    return key in template(fmt).signed_keys


# ----------------------------------------------------------------------------- identities


@cache
def identities(fmt: ReportFormat | str) -> tuple[Identity, ...]:
    """The four hard identities of DOMAIN.md, expanded to concrete cells, in check order."""
    t = template(fmt)
    out: list[Identity] = []
    cols = [c.key for c in APPLICANT_COLUMNS]
    for col in cols:
        out.append(
            Identity(
                "applications.balance",
                col,
                tuple(app_key(r, col) for r in t.balance_lhs),
                tuple(app_key(r, col) for r in t.balance_rhs),
            )
        )
    for col in cols:
        out.append(
            Identity(
                "applications.outcomes",
                col,
                (app_key(t.outcomes_total, col),),
                tuple(app_key(r, col) for r in t.outcome_keys),
            )
        )
    for row in t.application_keys:
        out.append(
            Identity(
                "applications.row_total",
                row,
                (app_key(row, COLUMN_TOTAL),),
                tuple(app_key(row, c) for c in APPLICANT_KEYS),
            )
        )
    for g in REVIEW_GROUPS:
        out.append(
            Identity(
                "review_litigation.group_total",
                g.key,
                (review_key(g.key, REVIEW_TOTAL),),
                tuple(review_key(g.key, i) for i in REVIEW_PARTS),
            )
        )
    return tuple(out)


def identity_holds(identity: Identity, values: dict[str, int | float | None]) -> bool:
    """Whether an identity holds over `values` (absent or None cells count as 0)."""
    lhs = sum((values.get(k) or 0) for k in identity.lhs)
    rhs = sum((values.get(k) or 0) for k in identity.rhs)
    return abs(lhs - rhs) < 1e-6
