//! Person names, street addresses and places.
//!
//! Without a model these are found only where the text announces them: a self-introduction
//! ("my name is", "我叫"), a form label ("Name:", "姓名："), an honorific ("Dr.", "Mrs."), a street
//! number followed by a street type, or a residence cue ("I live in", "我住在"). Names mentioned
//! without such a cue are not found: recall is traded for precision (see docs/pii.md).

use std::sync::LazyLock;

use regex::Regex;

use super::Candidate;
use crate::PiiType;
use crate::confidence::{CUED, STRUCTURED, WEAK};

// A capitalised name: 1-3 words, each upper-case initial and ending lower-case (O'Connor, Jean-Luc).
const EN_NAME: &str = r"(\p{Lu}[\p{L}'’\-]*\p{Ll}(?: \p{Lu}[\p{L}'’\-]*\p{Ll}){0,2})";

static EN_SELF_INTRO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i:\bmy name(?: is|'s|’s)|\bi am called|\bi'm called|\bcall me|\bname[ \t]*:)[ \t]*{EN_NAME}"
    ))
    .expect("name cue regex")
});

static EN_HONORIFIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.? {EN_NAME}")).expect("title regex")
});

/// The most common Chinese surnames (single and compound); a name after a cue must start with one.
const CN_COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "诸葛", "上官", "东方", "慕容", "令狐", "皇甫", "公孙", "司徒", "长孙", "宇文",
    "尉迟", "夏侯", "独孤", "端木", "南宫", "西门", "轩辕", "澹台",
];
const CN_SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘\
于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎\
贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳\
甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时\
穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙\
荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝";

/// Characters that end a Chinese given name when they follow the surname (verbs, particles and the
/// first characters of the words that typically follow a self-introduction).
const CN_NAME_STOP: &str =
    "，。、！？；：,.!? 今是在住的来电手身邮和从想请要现目已刚也就还昨我你他她了啊呢吧";

static CN_NAME_CUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:我叫|我的名字是|我的名字叫|名字叫|姓名[:：][ \t]*|联系人[:：][ \t]*)(\p{Han}{2,4})",
    )
    .expect("cn name cue")
});

pub fn persons(text: &str, out: &mut Vec<Candidate>) {
    if !text.is_ascii() {
        for c in CN_NAME_CUE.captures_iter(text) {
            let (Some(whole), Some(run)) = (c.get(0), c.get(1)) else {
                continue;
            };
            let labelled = whole.as_str().contains('名') && whole.as_str().contains(['：', ':']);
            if let Some(len) = cn_name_len(run.as_str()) {
                let confidence = if labelled { STRUCTURED } else { CUED };
                out.push(Candidate::new(
                    PiiType::Person,
                    run.start(),
                    run.start() + len,
                    confidence,
                ));
            }
        }
    }
    for c in EN_SELF_INTRO.captures_iter(text) {
        if let Some(name) = c.get(1) {
            out.push(Candidate::new(
                PiiType::Person,
                name.start(),
                name.end(),
                CUED,
            ));
        }
    }
    for c in EN_HONORIFIC.captures_iter(text) {
        if let Some(name) = c.get(1) {
            out.push(Candidate::new(
                PiiType::Person,
                name.start(),
                name.end(),
                WEAK,
            ));
        }
    }
}

/// Byte length of the Chinese name at the start of `run`: a known surname plus one or two given
/// characters, stopping at characters that cannot continue a name.
fn cn_name_len(run: &str) -> Option<usize> {
    let surname_len = CN_COMPOUND_SURNAMES
        .iter()
        .find(|s| run.starts_with(*s))
        .map(|s| s.len())
        .or_else(|| {
            let first = run.chars().next()?;
            CN_SURNAMES.contains(first).then(|| first.len_utf8())
        })?;
    let mut len = surname_len;
    for (i, ch) in run[surname_len..].chars().enumerate() {
        if i == 2 || CN_NAME_STOP.contains(ch) {
            break;
        }
        len += ch.len_utf8();
    }
    (len > surname_len).then_some(len)
}

// House number, 1-4 capitalised words, a street type; optional unit ("Apt 4B", "Suite 200").
static EN_STREET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b[0-9]{1,6}[A-Za-z]? (?:\p{Lu}[\p{L}'\-]*\.? ){1,4}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq|Trail|Crescent|Close|Plaza|Alley)\b\.?(?:,? (?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|#)\.? ?#?[A-Za-z0-9\-]{1,6}\b)?",
    )
    .expect("street regex")
});

// [province][city][district][town] road + number (+ building / unit / room).
static CN_STREET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:\p{Han}{1,4}?(?:省|自治区|市|州|盟|区|县|旗|镇|乡|街道))*\p{Han}{1,6}?(?:路|街|大道|大街|巷|胡同)[0-9]{1,5}(?:号|弄)(?:[0-9]{1,5}(?:号楼|栋|幢|单元|室))*",
    )
    .expect("cn street regex")
});

// A province-level division by name (the closed list of 34), one or more lower divisions and a
// road: an address even without a house number ("浙江省杭州市西湖区文三路", "…大街B座").
static CN_ADMIN_STREET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|海南|四川|贵州|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门)(?:壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区|省|市)?(?:\p{Han}{1,6}?(?:市|州|盟|区|县|旗|镇|乡|街道))+\p{Han}{1,6}?(?:路|街|大道|大街|巷|胡同)(?:[0-9]{1,5}(?:号|弄))?(?:[0-9A-Za-z]{1,4}(?:号楼|座|栋|幢|单元|室))*",
    )
    .expect("cn admin street regex")
});

/// Characters of the phrase that introduces an address ("我住在", "公司在", "寄到"): stripped from
/// the left of a Chinese address match, which the regex cannot delimit without a gazetteer.
const CN_ADDRESS_LEAD: &str = "我你他她们住在家是到寄送位于公司收货地址的从去往搬于现";

pub fn street_addresses(text: &str, out: &mut Vec<Candidate>) {
    for m in EN_STREET.find_iter(text) {
        out.push(Candidate::new(
            PiiType::StreetAddress,
            m.start(),
            m.end(),
            CUED,
        ));
    }
    if text.is_ascii() {
        return;
    }
    let mut admin: Vec<(usize, usize)> = Vec::new();
    for m in CN_ADMIN_STREET.find_iter(text) {
        admin.push((m.start(), m.end()));
        out.push(Candidate::new(
            PiiType::StreetAddress,
            m.start(),
            m.end(),
            STRUCTURED,
        ));
    }
    for m in CN_STREET.find_iter(text) {
        // Already found from its province.
        if admin.iter().any(|(s, e)| *s < m.end() && m.start() < *e) {
            continue;
        }
        let s = m.as_str();
        let lead: usize = s
            .chars()
            .take_while(|c| CN_ADDRESS_LEAD.contains(*c))
            .map(char::len_utf8)
            .sum();
        let start = m.start() + lead;
        // What is left must still hold a road name before the road type.
        if text[start..m.end()]
            .chars()
            .take_while(|c| !c.is_ascii_digit())
            .count()
            >= 2
        {
            out.push(Candidate::new(
                PiiType::StreetAddress,
                start,
                m.end(),
                STRUCTURED,
            ));
        }
    }
}

static EN_RESIDENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i:\bi live in|\bi'm from|\bi am from|\bi'm based in|\bi am based in|\bi moved to|\bi grew up in|\bi was born in|\bi reside in) {EN_NAME}"
    ))
    .expect("residence regex")
});

static CN_RESIDENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:我住在|我家在|我来自|我出生在|我出生于|我老家在|家住)((?:\p{Han}{1,4}?(?:省|自治区|市|州|区|县|镇|乡|村)){1,4})",
    )
    .expect("cn residence regex")
});

pub fn locations(text: &str, out: &mut Vec<Candidate>) {
    for c in EN_RESIDENCE.captures_iter(text) {
        if let Some(place) = c.get(1) {
            out.push(Candidate::new(
                PiiType::Location,
                place.start(),
                place.end(),
                WEAK,
            ));
        }
    }
    if text.is_ascii() {
        return;
    }
    for c in CN_RESIDENCE.captures_iter(text) {
        if let Some(place) = c.get(1) {
            out.push(Candidate::new(
                PiiType::Location,
                place.start(),
                place.end(),
                WEAK,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(f: fn(&str, &mut Vec<Candidate>), text: &str) -> Vec<String> {
        let mut out = Vec::new();
        f(text, &mut out);
        out.iter()
            .map(|c| text[c.start..c.end].to_string())
            .collect()
    }

    #[test]
    fn english_names() {
        assert_eq!(
            found(persons, "Hi, my name is Priya Raman and I"),
            ["Priya Raman"]
        );
        assert_eq!(
            found(persons, "Name: Olivia Chen\nDept: X"),
            ["Olivia Chen"]
        );
        assert_eq!(
            found(persons, "to Mr. James O'Connor about"),
            ["James O'Connor"]
        );
        assert!(found(persons, "My name is not important").is_empty());
        assert!(found(persons, "Call me when ready").is_empty());
    }

    #[test]
    fn chinese_names() {
        assert_eq!(found(persons, "你好，我叫张伟，想咨询"), ["张伟"]);
        assert_eq!(found(persons, "大家好，我叫陈静今年三十岁"), ["陈静"]);
        assert_eq!(found(persons, "我的名字是李晓明，请"), ["李晓明"]);
        assert_eq!(found(persons, "姓名：欧阳娜娜  性别"), ["欧阳娜娜"]);
        assert!(found(persons, "我叫了一辆出租车").is_empty());
        assert!(found(persons, "我是学生").is_empty());
    }

    #[test]
    fn streets() {
        assert_eq!(
            found(street_addresses, "I live at 1428 Elm Street, Springfield"),
            ["1428 Elm Street"]
        );
        assert_eq!(
            found(street_addresses, "at 9 Ocean Drive, Apt 4B, Miami"),
            ["9 Ocean Drive, Apt 4B"]
        );
        assert_eq!(
            found(street_addresses, "我住在北京市朝阳区建国路88号，快递"),
            ["北京市朝阳区建国路88号"]
        );
        assert_eq!(
            found(street_addresses, "公司在杭州市西湖区文三路478号华星"),
            ["杭州市西湖区文三路478号"]
        );
        assert!(found(street_addresses, "Room 412 on floor 4").is_empty());
        assert!(found(street_addresses, "走了5条路").is_empty());
        // Without a house number: a province-level division, a lower one and a road.
        assert_eq!(
            found(street_addresses, "请寄到浙江省杭州市西湖区文三路，谢谢"),
            ["浙江省杭州市西湖区文三路"]
        );
        assert_eq!(
            found(street_addresses, "新地址：广东省深圳市南山区科技园南路B座"),
            ["广东省深圳市南山区科技园南路B座"]
        );
        // A place without a road, or a road without divisions, is not an address.
        assert!(found(street_addresses, "我明年想去浙江省杭州市旅游").is_empty());
        assert!(found(street_addresses, "这条路很长，走到北京也走不完").is_empty());
    }

    #[test]
    fn places() {
        assert_eq!(found(locations, "I live in Portland and"), ["Portland"]);
        assert_eq!(
            found(locations, "I am based in San Francisco and"),
            ["San Francisco"]
        );
        assert_eq!(found(locations, "我住在成都市，推荐"), ["成都市"]);
        assert_eq!(found(locations, "我家在苏州市吴中区，离"), ["苏州市吴中区"]);
        assert!(found(locations, "I live in fear of bugs").is_empty());
        assert!(found(locations, "我住在这里很久了").is_empty());
        assert!(found(locations, "I'm from the marketing team").is_empty());
    }
}
