#!/usr/bin/env python3
"""Writes core/src/checks/language/words.rs: the function words the
`language` check counts, one sorted table of word -> languages (a bit per
language), so that a check looks each word up once.

The lists are the most frequent function words of each language (articles,
pronouns, prepositions, conjunctions, auxiliaries). A word that is also a
common English word ("in", "is", "an", "on", "so", "me", "to", "as", "for",
"also", "come", "plus", "her", "end", "have", "over", ...) is left out of
the other languages' lists, so that English text gives them no hits; the
one-letter words "a", "e", "i", "o" count for English only, or not at all
(`e-mail` splits into `e` and `mail`).

    python3 scripts/gen-language-words.py > core/src/checks/language/words.rs
"""

LANGS = {
    "en": """the and of to in is you that it for with on this are be as at have your
        from or by not we can will was all if our an but they what more about has there
        which their would so me my do been one any here now only also its i a he she his
        her him them were had did does should could may how when who why where than then
        these those some no into out up just very us am get""",
    "de": """der die und den von zu das mit sich des auf für ist im dem nicht ein eine
        als auch es werden aus er hat dass daß sie nach wird bei einer um sind noch wie
        einem über einen zum haben nur oder aber vor zur bis mehr durch sein wurde sei
        ich du wir ihr mich dich uns euch kein keine ja wenn hier kann können ihre ihren
        ihrem unsere unser jetzt immer schon diese dieser dieses sehr gibt""",
    "fr": """le la les de des et un une du en est que qui dans pour pas sur au par ne
        se ce il elle nous vous ils sont avec sa ses mais ou leur aux cette été être
        avoir tout très votre vos notre nos je tu y comme si sans à où""",
    "es": """el la de que y en los se del las un por con una su para es al lo como más
        pero sus le ya este sí porque esta entre cuando muy sin sobre también hasta hay
        donde desde todo nos usted ustedes puede hacer nuestro nuestra""",
    "pt": """o de que do da em um para é com não uma os se na por mais dos como mas ao
        ele das à seu sua ou quando muito nos já eu também só pelo pela até isso ela
        entre você vocês seus suas meu minha são está estão foi ser tem têm nosso nossa""",
    "it": """il di che la per un non è sono una con del della le si da al lo ma gli dei
        delle nel nella più anche questo questa se mi ci ha hanno suo sua tutti essere
        molto ti vi voi noi ed alla alle degli dalla perché quando sempre""",
    "nl": """de en van het een dat op te zijn met voor niet aan er die ook als bij om
        maar door ze uit nog dan wordt worden naar kan tot je jij uw wij ons onze deze
        dit geen wel meer heeft hebben hun zich wat zou kunnen moet veel waar""",
    "sv": """och att det som en på är av för med till den har de inte om ett han
        var jag sig från vi så kan när hon också efter eller nu sin där vid mot ska
        skulle kommer ut får finns vara hade alla andra mycket än här dig du ni er era
        vår våra dem detta dessa hur vad varför bara sedan mig min mitt mina""",
    "da": """og det en den til er som på de med han af ikke der var mig sig et har
        om vi min havde ham hun nu da fra du ud sin dem os hans hvor eller hvad skal
        selv alle vil blev kunne ind når være noget ville jo deres efter ned skulle
        denne dette mit også dig meget sit sine mod disse hvis din nogle hos blive mange
        bliver hendes været jer""",
    "no": """og det en et den til er som på de med han av ikke der så var meg seg
        har om vi min mitt hadde hun nå da ved fra du ut sin dem oss kan hans hvor eller
        hva skal selv alle vil bli ble blitt kunne inn når være noen noe ville dere
        deres kun ja etter ned skulle denne deg sine sitt mot å meget hvorfor dette
        disse uten hvordan ingen din ditt blir samme hvilken mellom vår hver hvem hvis
        både bare enn fordi før mange også slik vært""",
    "pl": """w na z się nie do że jest jak po co tak za od ale czy dla jego przez są już
        jej tylko być może też ich tego jako który która które bardzo mnie ja ty wy oni
        pan pani oraz gdy jeśli także lub tym ten ta""",
    "cs": """se na je v že s z do jsem ale jak by si k pro tak jsou byl co po od za jako
        aby nebo jeho její bude už které který která také tím při jen ve ze však mezi až
        být jsme jste není tento tato toto""",
    "sk": """sa na je v že s z do som ale ako by si k pre tak sú bol čo po od za aby
        alebo jeho jej bude už ktoré ktorý ktorá tiež len vo zo však medzi sme ste nie
        tento táto toto""",
    "hr": """je da se na za su od koji koja koje s sa ne što kao iz bi ali ili smo ste
        sam biti bio bila će ću ćemo ga mu ih njih nije samo već kako kada jer nego ovo
        ova ovaj taj ta te li pa po pri prema sve svi nas vas kojeg kojem koju zbog sada
        tako""",
    "tr": """ve bir bu da de için ile çok daha ne gibi ama mi mı var yok ben sen biz siz
        onlar olarak kadar sonra şey olan değil ki veya ya hem ise şu bunu bunun diye
        göre kendi nasıl neden şimdi""",
    "ro": """și de la în cu pe din că nu un care se mai pentru este sunt au ce sau ca lui
        ale al dar fi fost dacă prin vă noi voi ei ele acest această aceasta aceste acum
        foarte poate""",
    "hu": """az és hogy nem egy meg van csak már ez azt mint el ki fel még mert vagy ha
        volt lesz kell lehet után minden nagyon ezt így sem én te mi ti ők nincs vannak
        amely amit ami""",
    "fi": """ja ei se että hän oli ovat ole mutta kun niin myös tai jos kuin vain sitten
        nyt olla minä sinä te tämä tuo joka mikä mitä kanssa sekä jo vielä koska olen
        olet olemme""",
    "id": """yang dan di ini itu dengan untuk tidak dari dalam akan pada juga saya ke
        karena ada atau oleh kami anda kita mereka bisa sudah telah lebih seperti hanya
        tersebut boleh kepada adalah sebagai bagi""",
}

# Common English words kept out of the other languages' lists.
ENGLISH_ALSO = set("""in is an on so me to as for also come plus her end have over
    under at no a e i u he war man son men""".split())


SLOTS = 2048


def fnv1a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def main() -> None:
    names = list(LANGS)
    table: dict[str, int] = {}
    for bit, (lang, words) in enumerate(LANGS.items()):
        for w in words.split():
            if lang != "en" and w in ENGLISH_ALSO:
                raise SystemExit(f"{lang}: {w!r} is a common English word")
            table[w] = table.get(w, 0) | (1 << bit)
    print("// Generated by scripts/gen-language-words.py; do not edit.")
    print()
    print("/// The languages told apart (ISO 639-1 codes; `hr` stands for")
    print("/// Serbo-Croatian in Latin script: Croatian, Serbian, Bosnian; `id`")
    print("/// for Indonesian and Malay).")
    # As rustfmt lays it out (max_width 110, rustfmt.toml).
    print(f"pub const LANGUAGES: [&str; {len(names)}] = [")
    quoted = [f'"{n}",' for n in names]
    line = "   "
    for q in quoted:
        if len(line) + 1 + len(q) > 110:
            print(line)
            line = "   "
        line += " " + q
    print(line)
    print("];")
    print()
    longest = max(len(w.encode()) for w in table)
    print("/// Bytes of the longest function word.")
    print(f"pub const MAX_LEN: usize = {longest};")
    print()
    print("/// Function words, sorted by their UTF-8 bytes, each with a bit per")
    print("/// language of [`LANGUAGES`] it is a function word of.")
    print("pub static WORDS: &[(&str, u32)] = &[")
    for w in sorted(table, key=lambda s: s.encode()):
        print(f'    ("{w}", {table[w]:#x}),')
    print("];")
    print()
    # The same words in an open-addressing table (FNV-1a of the UTF-8
    # bytes, linear probing), so that a check finds a word with one hash
    # and a comparison or two: a text's words are mostly not in the table.
    slots = [0] * SLOTS
    for i, w in enumerate(sorted(table, key=lambda s: s.encode())):
        h = fnv1a(w.encode()) % SLOTS
        while slots[h]:
            h = (h + 1) % SLOTS
        slots[h] = i + 1
    print(f"/// Slots of an open-addressing table over [`WORDS`]: FNV-1a of a")
    print(f"/// word's bytes modulo {SLOTS}, then the next slot while taken; each")
    print("/// slot holds an index into [`WORDS`] plus one, 0 when empty.")
    print("#[rustfmt::skip]")
    print(f"pub static SLOTS: [u16; {SLOTS}] = [")
    for k in range(0, SLOTS, 16):
        print("    " + " ".join(f"{v}," for v in slots[k:k + 16]))
    print("];")


if __name__ == "__main__":
    main()
