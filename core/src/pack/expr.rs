//! Meta-rule expressions: boolean and counting logic over symbols.
//!
//! ```text
//! PHISH_ASK_PASSWORD && (PHISH_UPGRADE || PHISH_DEACTIVATE) && !FROM_LIST
//! (PHISH_A + PHISH_B + PHISH_C) >= 2
//! ```
//!
//! A symbol is 1 when it fired and 0 otherwise; `&&`, `||` and `!` treat
//! any non-zero value as true; `+` adds; `> >= < <= ==` compare.

use std::collections::BTreeSet;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A symbol reference, by index into the pack's symbol table.
    Symbol(usize),
    /// A number literal.
    Number(f64),
    /// Logical negation.
    Not(Box<Expr>),
    /// A binary operation.
    Binary(Op, Box<Expr>, Box<Expr>),
}

/// Binary operators, lowest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `||`
    Or,
    /// `&&`
    And,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `+`
    Add,
}

impl Expr {
    /// Evaluates with `fired(i)` telling whether symbol `i` fired.
    pub fn eval(&self, fired: &dyn Fn(usize) -> bool) -> f64 {
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        match self {
            Expr::Symbol(i) => b(fired(*i)),
            Expr::Number(n) => *n,
            Expr::Not(e) => b(e.eval(fired) == 0.0),
            Expr::Binary(op, l, r) => {
                let l = l.eval(fired);
                match op {
                    Op::Or => b(l != 0.0 || r.eval(fired) != 0.0),
                    Op::And => b(l != 0.0 && r.eval(fired) != 0.0),
                    Op::Gt => b(l > r.eval(fired)),
                    Op::Ge => b(l >= r.eval(fired)),
                    Op::Lt => b(l < r.eval(fired)),
                    Op::Le => b(l <= r.eval(fired)),
                    Op::Eq => b(l == r.eval(fired)),
                    Op::Add => l + r.eval(fired),
                }
            }
        }
    }

    /// The symbol indexes this expression reads.
    pub fn symbols(&self, out: &mut BTreeSet<usize>) {
        match self {
            Expr::Symbol(i) => {
                out.insert(*i);
            }
            Expr::Number(_) => {}
            Expr::Not(e) => e.symbols(out),
            Expr::Binary(_, l, r) => {
                l.symbols(out);
                r.symbols(out);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(f64),
    Op(Op),
    Not,
    Open,
    Close,
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        let two = b.get(i..i + 2).unwrap_or(&[]);
        let (tok, len) = match c {
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'(' => (Tok::Open, 1),
            b')' => (Tok::Close, 1),
            b'+' => (Tok::Op(Op::Add), 1),
            _ if two == b"&&" => (Tok::Op(Op::And), 2),
            _ if two == b"||" => (Tok::Op(Op::Or), 2),
            _ if two == b">=" => (Tok::Op(Op::Ge), 2),
            _ if two == b"<=" => (Tok::Op(Op::Le), 2),
            _ if two == b"==" => (Tok::Op(Op::Eq), 2),
            b'>' => (Tok::Op(Op::Gt), 1),
            b'<' => (Tok::Op(Op::Lt), 1),
            b'!' => (Tok::Not, 1),
            _ if c.is_ascii_digit() => {
                let end = b[i..]
                    .iter()
                    .position(|x| !(x.is_ascii_digit() || *x == b'.'))
                    .map_or(b.len(), |p| i + p);
                let n = src[i..end]
                    .parse()
                    .map_err(|_| format!("bad number {:?}", &src[i..end]))?;
                (Tok::Num(n), end - i)
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let end = b[i..]
                    .iter()
                    .position(|x| !(x.is_ascii_alphanumeric() || *x == b'_'))
                    .map_or(b.len(), |p| i + p);
                (Tok::Ident(src[i..end].to_string()), end - i)
            }
            _ => return Err(format!("unexpected character {:?} at {}", c as char, i + 1)),
        };
        out.push(tok);
        i += len;
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    resolve: &'a mut dyn FnMut(&str) -> Option<usize>,
}

fn prec(op: Op) -> u8 {
    match op {
        Op::Or => 1,
        Op::And => 2,
        Op::Gt | Op::Ge | Op::Lt | Op::Le | Op::Eq => 3,
        Op::Add => 4,
    }
}

impl Parser<'_> {
    fn binary(&mut self, min: u8) -> Result<Expr, String> {
        let mut lhs = self.unary()?;
        while let Some(Tok::Op(op)) = self.toks.get(self.pos).cloned() {
            if prec(op) < min {
                break;
            }
            self.pos += 1;
            let rhs = self.binary(prec(op) + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        let tok = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match tok {
            Some(Tok::Not) => Ok(Expr::Not(Box::new(self.unary()?))),
            Some(Tok::Open) => {
                let e = self.binary(0)?;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Num(n)) => Ok(Expr::Number(n)),
            Some(Tok::Ident(name)) => (self.resolve)(&name)
                .map(Expr::Symbol)
                .ok_or_else(|| format!("unknown symbol {name}")),
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("expression ends too early".into()),
        }
    }
}

/// Parses `src`, resolving symbol names with `resolve`.
pub fn parse(src: &str, resolve: &mut dyn FnMut(&str) -> Option<usize>) -> Result<Expr, String> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        resolve,
    };
    let e = p.binary(0)?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected {:?}", p.toks[p.pos]));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str, fired: &[&str]) -> f64 {
        let names = ["A", "B", "C", "D"];
        let e = parse(src, &mut |n| names.iter().position(|x| *x == n)).unwrap();
        e.eval(&|i| fired.contains(&names[i]))
    }

    #[test]
    fn logic_and_counting() {
        assert_eq!(run("A && (B || C)", &["A", "C"]), 1.0);
        assert_eq!(run("A && (B || C)", &["B", "C"]), 0.0);
        assert_eq!(run("!A || D", &[]), 1.0);
        assert_eq!(run("A + B + C >= 2", &["A", "C"]), 1.0);
        assert_eq!(run("A + B + C >= 2", &["C"]), 0.0);
        assert_eq!(run("A || B && C", &["A"]), 1.0, "&& binds tighter than ||");
    }

    #[test]
    fn errors_name_the_problem() {
        let mut r = |n: &str| (n == "A").then_some(0);
        assert!(parse("A && NOPE", &mut r).unwrap_err().contains("NOPE"));
        assert!(parse("(A", &mut r).unwrap_err().contains(")"));
        assert!(parse("A &", &mut r).is_err());
        assert!(parse("", &mut r).is_err());
    }
}
