//! Check-digit and validity rules of the formats' own specifications.

/// Luhn (mod 10) over ASCII digits; false for anything else.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether a payment-card number (digits only) has a known issuer prefix and a length that issuer
/// uses. Prefix ranges follow the public IIN tables of the major networks.
pub fn card_issuer_known(digits: &str) -> bool {
    let len = digits.len();
    let prefix = |n: usize| -> u32 { digits.get(..n).and_then(|p| p.parse().ok()).unwrap_or(0) };
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    let visa = p1 == 4 && matches!(len, 13 | 16 | 19);
    let mastercard = ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16;
    let amex = matches!(p2, 34 | 37) && len == 15;
    let discover =
        (p4 == 6011 || p2 == 65 || (644..=649).contains(&p3)) && (16..=19).contains(&len);
    let diners =
        ((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39)) && (14..=19).contains(&len);
    let jcb = (3528..=3589).contains(&p4) && (16..=19).contains(&len);
    let unionpay = p2 == 62 && (16..=19).contains(&len);
    let maestro = (p2 == 50 || (56..=69).contains(&p2)) && (13..=19).contains(&len);
    let mir = (2200..=2204).contains(&p4) && (16..=19).contains(&len);
    visa || mastercard || amex || discover || diners || jcb || unionpay || maestro || mir
}

/// IBAN length per ISO 13616 registry country code; `None` for a country without IBANs.
pub fn iban_length(country: &str) -> Option<usize> {
    let len = match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "CR" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        _ => return None,
    };
    Some(len)
}

/// ISO 13616 check: known country, registry length, and the mod-97 remainder of the rearranged
/// number is 1. `compact` is upper-case with no spaces.
pub fn iban_valid(compact: &str) -> bool {
    let bytes = compact.as_bytes();
    if bytes.len() < 15
        || !bytes
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return false;
    }
    if !(bytes[0].is_ascii_uppercase()
        && bytes[1].is_ascii_uppercase()
        && bytes[2].is_ascii_digit()
        && bytes[3].is_ascii_digit())
    {
        return false;
    }
    if iban_length(&compact[..2]) != Some(bytes.len()) {
        return false;
    }
    let mut remainder: u32 = 0;
    for &b in bytes[4..].iter().chain(&bytes[..4]) {
        if b.is_ascii_digit() {
            remainder = (remainder * 10 + u32::from(b - b'0')) % 97;
        } else {
            let v = u32::from(b - b'A') + 10;
            remainder = (remainder * 100 + v) % 97;
        }
    }
    remainder == 1
}

/// GB 11643-1999: 6-digit region code, 8-digit birth date, 3-digit sequence and an ISO 7064
/// MOD 11-2 check character (`0`-`9` or `X`).
pub fn cn_resident_id_valid(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    // Region codes start with the region digit 1-8 (8x: HK/Macao/Taiwan residence permits).
    if !(b'1'..=b'8').contains(&b[0]) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> u32 { id[r].parse().unwrap_or(0) };
    if !valid_date(num(6..10), num(10..12), num(12..14)) {
        return false;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let expected = CHECK[(sum % 11) as usize];
    b[17].to_ascii_uppercase() == expected
}

/// A calendar date between 1900-01-01 and 2099-12-31.
fn valid_date(year: u32, month: u32, day: u32) -> bool {
    if !(1900..=2099).contains(&year) || !(1..=12).contains(&month) || day == 0 {
        return false;
    }
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    day <= days
}

/// SSA rules for a US Social Security number's parts: area not 000, 666 or 900-999; group not 00;
/// serial not 0000.
pub fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("1234567812345678"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4111-1111"));
    }

    #[test]
    fn issuers() {
        assert!(card_issuer_known("4111111111111111"));
        assert!(card_issuer_known("378282246310005"));
        assert!(card_issuer_known("2223003122003222"));
        assert!(card_issuer_known("30569309025904"));
        // Visa prefix with a length Visa does not issue.
        assert!(!card_issuer_known("41111111111111111"));
        // No network issues numbers starting with 9 or 1.
        assert!(!card_issuer_known("9111111111111111"));
        assert!(!card_issuer_known("1111111111111111"));
    }

    #[test]
    fn iban() {
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(iban_valid("DE89370400440532013000"));
        assert!(iban_valid("NO9386011117947"));
        assert!(!iban_valid("GB82WEST12345698765433"), "check digits");
        assert!(!iban_valid("GB82WEST1234569876543"), "length");
        assert!(!iban_valid("ZZ82WEST12345698765432"), "country");
        assert!(!iban_valid("gb82west12345698765432"), "case");
    }

    #[test]
    fn cn_id() {
        assert!(cn_resident_id_valid("11010519491231002X"));
        assert!(cn_resident_id_valid("11010519491231002x"));
        assert!(cn_resident_id_valid("440308199001011239"));
        assert!(!cn_resident_id_valid("440308199001011234"), "check digit");
        assert!(!cn_resident_id_valid("330106200002303336"), "30 February");
        assert!(
            cn_resident_id_valid("330106200002293334"),
            "29 February 2000"
        );
        assert!(!cn_resident_id_valid("940308199001011239"), "region");
        assert!(!cn_resident_id_valid("4403081990010112"));
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn_valid(219, 9, 9999));
        assert!(!ssn_valid(0, 12, 3456));
        assert!(!ssn_valid(666, 45, 1234));
        assert!(!ssn_valid(923, 45, 6789));
        assert!(!ssn_valid(123, 0, 4567));
        assert!(!ssn_valid(123, 45, 0));
    }
}
