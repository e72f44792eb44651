//! A strict reader of the Authentication-Results grammar (RFC 8601 §2.2,
//! with RFC 5322 CFWS, RFC 2045 tokens and quoted-strings, RFC 5321
//! Keywords), written from the ABNF independently of the writer in
//! `checks::auth::ar`, so the tests round-trip our header through it.
//!
//! ```text
//! authres-payload = [CFWS] authserv-id [ CFWS authres-version ]
//!                   ( no-result / 1*resinfo ) [CFWS]
//! authserv-id     = value
//! authres-version = 1*DIGIT [CFWS]
//! no-result       = [CFWS] ";" [CFWS] "none"
//! resinfo         = [CFWS] ";" methodspec [ CFWS reasonspec ] [ CFWS 1*propspec ]
//! methodspec      = [CFWS] method [CFWS] "=" [CFWS] result
//! method          = Keyword [ [CFWS] "/" [CFWS] method-version ]
//! result          = Keyword
//! reasonspec      = "reason" [CFWS] "=" [CFWS] value
//! propspec        = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue
//! pvalue          = [CFWS] ( value / [ [ local-part ] "@" ] domain-name ) [CFWS]
//! ```

/// One parsed `resinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Res {
    pub method: String,
    pub result: String,
    pub reason: Option<String>,
    pub props: Vec<(String, String, String)>,
}

impl Res {
    pub fn prop(&self, ptype: &str, property: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(t, p, _)| t == ptype && p == property)
            .map(|(_, _, v)| v.as_str())
    }
}

/// A parsed header field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub authserv_id: String,
    pub results: Vec<Res>,
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

type R<T> = Result<T, String>;

impl P<'_> {
    fn err<T>(&self, what: &str) -> R<T> {
        Err(format!(
            "{what} at byte {} in {:?}",
            self.i,
            String::from_utf8_lossy(self.s)
        ))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// FWS (unfolded: WSP only, since the value has no line breaks).
    fn wsp(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }

    /// comment = "(" *([FWS] ccontent) [FWS] ")"
    fn comment(&mut self) -> R<bool> {
        if !self.eat(b'(') {
            return Ok(false);
        }
        loop {
            self.wsp();
            match self.peek() {
                None => return self.err("unterminated comment"),
                Some(b')') => {
                    self.i += 1;
                    return Ok(true);
                }
                Some(b'(') => {
                    self.comment()?;
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) if c == b' ' || c == b'\t' || (0x21..=0x7e).contains(&c) => self.i += 1,
                        _ => return self.err("bad quoted-pair in comment"),
                    }
                }
                // ctext = %d33-39 / %d42-91 / %d93-126
                Some(c) if (33..=39).contains(&c) || (42..=91).contains(&c) || (93..=126).contains(&c) => {
                    self.i += 1
                }
                Some(_) => return self.err("character not allowed in a comment"),
            }
        }
    }

    /// CFWS = (1*([FWS] comment) [FWS]) / FWS; optional here.
    fn cfws(&mut self) -> R<bool> {
        let start = self.i;
        loop {
            let w = self.wsp();
            let c = self.comment()?;
            if !w && !c {
                break;
            }
        }
        Ok(self.i > start)
    }

    /// Keyword = ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
    fn keyword(&mut self) -> R<String> {
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'-') {
            self.i += 1;
        }
        let k = &self.s[start..self.i];
        if k.is_empty() || k[0] == b'-' || k[k.len() - 1] == b'-' {
            self.i = start;
            return self.err("expected a Keyword");
        }
        Ok(String::from_utf8_lossy(k).into_owned())
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&c)) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn quoted_string(&mut self) -> R<Option<String>> {
        if !self.eat(b'"') {
            return Ok(None);
        }
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return self.err("unterminated quoted-string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Some(String::from_utf8_lossy(&out).into_owned()));
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) if c == b' ' || c == b'\t' || (0x21..=0x7e).contains(&c) => {
                            out.push(c);
                            self.i += 1;
                        }
                        _ => return self.err("bad quoted-pair"),
                    }
                }
                // qtext = %d33 / %d35-91 / %d93-126, plus WSP
                Some(c)
                    if c == 33
                        || (35..=91).contains(&c)
                        || (93..=126).contains(&c)
                        || c == b' '
                        || c == b'\t' =>
                {
                    out.push(c);
                    self.i += 1;
                }
                Some(_) => return self.err("character not allowed in a quoted-string"),
            }
        }
    }

    /// value = token / quoted-string
    fn value(&mut self) -> R<String> {
        if let Some(q) = self.quoted_string()? {
            return Ok(q);
        }
        match self.token() {
            Some(t) => Ok(t),
            None => self.err("expected a value"),
        }
    }

    fn dot_atom_text(&mut self) -> Option<String> {
        let start = self.i;
        let atext = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&c);
        loop {
            let s = self.i;
            while matches!(self.peek(), Some(c) if atext(c)) {
                self.i += 1;
            }
            if self.i == s {
                self.i = start;
                return None;
            }
            if !(self.peek() == Some(b'.') && self.s.get(self.i + 1).is_some_and(|&c| atext(c))) {
                break;
            }
            self.i += 1;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// domain-name = sub-domain 1*("." sub-domain) per RFC 6376 (we also
    /// accept a single label, as RFC 5321's Domain does).
    fn domain_name(&mut self) -> Option<String> {
        let start = self.i;
        loop {
            let s = self.i;
            while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'-') {
                self.i += 1;
            }
            let label = &self.s[s..self.i];
            if label.is_empty() || label[0] == b'-' || label[label.len() - 1] == b'-' {
                self.i = start;
                return None;
            }
            if !(self.peek() == Some(b'.') && self.s.get(self.i + 1).is_some_and(u8::is_ascii_alphanumeric)) {
                break;
            }
            self.i += 1;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// pvalue = [CFWS] ( value / [ [ local-part ] "@" ] domain-name ) [CFWS]
    fn pvalue(&mut self) -> R<String> {
        self.cfws()?;
        let start = self.i;
        // [local-part] "@" domain-name, local-part = dot-atom / quoted-string
        let local = match self.quoted_string()? {
            Some(q) => Some(format!("\"{q}\"")),
            None => self.dot_atom_text(),
        };
        if self.eat(b'@')
            && let Some(d) = self.domain_name()
            && self.at_value_end()
        {
            let v = format!("{}@{d}", local.unwrap_or_default());
            self.cfws()?;
            return Ok(v);
        }
        self.i = start;
        let v = self.value()?;
        if !self.at_value_end() {
            return self.err("junk after a property value");
        }
        self.cfws()?;
        Ok(v)
    }

    fn at_value_end(&self) -> bool {
        matches!(self.peek(), None | Some(b' ' | b'\t' | b';' | b'('))
    }

    fn resinfo(&mut self) -> R<Res> {
        // ";" already consumed
        self.cfws()?;
        let method = self.keyword()?;
        self.cfws()?;
        if self.eat(b'/') {
            self.cfws()?;
            let s = self.i;
            while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                self.i += 1;
            }
            if self.i == s {
                return self.err("expected a method version");
            }
            self.cfws()?;
        }
        if !self.eat(b'=') {
            return self.err("expected '=' after the method");
        }
        self.cfws()?;
        let result = self.keyword()?;
        let mut res = Res {
            method: method.to_ascii_lowercase(),
            result: result.to_ascii_lowercase(),
            reason: None,
            props: Vec::new(),
        };
        loop {
            let had_space = self.cfws()?;
            match self.peek() {
                None | Some(b';') => return Ok(res),
                _ if !had_space => return self.err("expected CFWS before a reason or property"),
                _ => {}
            }
            let ptype = self.keyword()?;
            self.cfws()?;
            if ptype.eq_ignore_ascii_case("reason") && self.peek() == Some(b'=') {
                if res.reason.is_some() || !res.props.is_empty() {
                    return self.err("reason after properties, or twice");
                }
                self.i += 1;
                self.cfws()?;
                res.reason = Some(self.value()?);
                continue;
            }
            if !self.eat(b'.') {
                return self.err("expected '.' in a property");
            }
            self.cfws()?;
            let property = self.keyword()?;
            self.cfws()?;
            if !self.eat(b'=') {
                return self.err("expected '=' in a property");
            }
            let v = self.pvalue()?;
            // pvalue consumed trailing CFWS; step back over it so the loop
            // sees the separation.
            while self.i > 0 && matches!(self.s[self.i - 1], b' ' | b'\t') {
                self.i -= 1;
            }
            res.props
                .push((ptype.to_ascii_lowercase(), property.to_ascii_lowercase(), v));
        }
    }
}

/// Parses an Authentication-Results field value strictly.
pub fn parse(value: &str) -> Result<Payload, String> {
    let mut p = P {
        s: value.as_bytes(),
        i: 0,
    };
    p.cfws()?;
    let authserv_id = p.value()?;
    let had = p.cfws()?;
    if had && matches!(p.peek(), Some(c) if c.is_ascii_digit()) {
        while matches!(p.peek(), Some(c) if c.is_ascii_digit()) {
            p.i += 1;
        }
        p.cfws()?;
    }
    let mut results = Vec::new();
    while p.eat(b';') {
        let save = p.i;
        p.cfws()?;
        if value[p.i..].eq_ignore_ascii_case("none") || value[p.i..].trim_end().eq_ignore_ascii_case("none") {
            if !results.is_empty() {
                return Err("'none' after results".into());
            }
            return Ok(Payload { authserv_id, results });
        }
        p.i = save;
        results.push(p.resinfo()?);
    }
    p.cfws()?;
    if p.i != p.s.len() {
        return p.err("unexpected text");
    }
    if results.is_empty() {
        return Err("no resinfo and no 'none'".into());
    }
    Ok(Payload { authserv_id, results })
}

/// The results RFC 8601 §2.7 (and RFC 8617 for `arc`) registers per
/// method; `compauth` is Microsoft's and has its own set.
pub fn allowed_results(method: &str) -> &'static [&'static str] {
    match method {
        "spf" | "sender-id" => &[
            "none",
            "pass",
            "fail",
            "softfail",
            "policy",
            "neutral",
            "temperror",
            "permerror",
        ],
        "dkim" => &[
            "none",
            "pass",
            "fail",
            "policy",
            "neutral",
            "temperror",
            "permerror",
        ],
        "dmarc" => &["none", "pass", "fail", "temperror", "permerror"],
        "arc" => &["none", "pass", "fail"],
        "auth" => &["none", "pass", "fail", "temperror", "permerror"],
        "compauth" => &["pass", "softpass", "fail", "none"],
        _ => &[],
    }
}

/// The `ptype.property` pairs registered for each method (RFC 8601 §2.7,
/// RFC 7489 §11.2 for `dmarc`, RFC 4406 for `sender-id`, whose property is
/// the PRA's header field name); `policy.dmarc` carries the applied
/// DMARC policy.
pub fn allowed_property(method: &str, ptype: &str, property: &str) -> bool {
    match (method, ptype) {
        ("spf", "smtp") => matches!(property, "mailfrom" | "helo"),
        ("dkim", "header") => matches!(property, "d" | "i" | "s" | "a" | "b"),
        ("dmarc", "header") => property == "from",
        ("dmarc", "policy") => property == "dmarc",
        ("sender-id", "header") => {
            matches!(property, "from" | "sender" | "resent-from" | "resent-sender")
        }
        ("auth", "smtp") => property == "auth",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc8601_examples_and_refuses_broken_ones() {
        for ok in [
            "example.org; none",
            "example.com; spf=pass smtp.mailfrom=example.net",
            "example.com; auth=pass (cram-md5) smtp.auth=sender@example.net; spf=pass smtp.mailfrom=example.net",
            "example.com; sender-id=fail header.from=example.com; dkim=pass (good signature) header.d=example.com",
            "mail-router.example.net; dkim=pass (good signature) header.d=newyork.example.com header.b=oINEO8hg; dkim=fail (bad signature) header.d=newyork.example.com",
            "example.com 1; spf=pass reason=\"it is fine\" smtp.mailfrom=\"a b\"@example.net",
        ] {
            parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "example.com",
            "example.com; spf",
            "example.com; spf=pass smtp.mailfrom",
            "example.com; spf=pass smtp.mailfrom=a b",
            "example.com; spf=pass (unterminated",
            "example.com; spf=pass header.b=abc/def",
            "example.com; spf=-pass",
            "example.com; spf=pass; none",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
