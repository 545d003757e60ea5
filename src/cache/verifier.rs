//! The semantic cache's verifier: after the nearest-neighbour lookup has found a cached prompt A
//! close to the new prompt B, it decides whether A's answer may be served for B.
//!
//! Cosine similarity alone cannot decide this. Sentence embeddings place "capital of Australia"
//! and "capital of Austria", or "convert 5 miles to km" and "convert 5 km to miles", almost on top
//! of each other, because they share nearly every word; yet their answers differ. So after the
//! cosine threshold the verifier compares, in text, the parts of a prompt that change its answer,
//! and refuses on the first disagreement. Each rule returns a reason:
//!
//! | rule | refuses when |
//! |------|--------------|
//! | [`Rule::Cosine`] | the similarity is below the threshold |
//! | [`Rule::Negation`] | the prompts carry a different number of negation cues (`not`, `n't`, `no`, `never`, `without`, `non-`, ...) |
//! | [`Rule::Code`] | a backticked or quoted literal, or an identifier (`snake_case`, `camelCase`, `a.b`, `a::b`, `--flag`, `f()`), is not in the other prompt |
//! | [`Rule::Language`] | the natural or programming languages named differ (`in French` / `in German`, `Python` / `Rust`) |
//! | [`Rule::Version`] | a product's version differs (`Python 3.8` / `Python 3.12`) |
//! | [`Rule::Time`] | the time frames differ (`today` / `tomorrow`, `last week` / `this week`, years, months, weekdays, seasons) |
//! | [`Rule::Unit`] | the units differ, or a unit's role in a conversion differs (`5 miles to km` / `5 km to miles`) |
//! | [`Rule::Number`] | the numbers (digits or words, ordinals, fractions), their order, or the arithmetic operators differ |
//! | [`Rule::Entity`] | a named entity (capitalized word, acronym, known place or language) is not in the other prompt; compared exactly, never by edit distance |
//! | [`Rule::Opposition`] | the prompts use opposite members of a pair (`before`/`after`, `increase`/`decrease`, `enable`/`disable`, `import`/`export`, ...) |
//! | [`Rule::Direction`] | the object of `from`, `to`, `than`, `before`, `with`, `of`, ... is another word that both prompts contain (`from A to B` / `from B to A`) |
//! | [`Rule::Order`] | the shared words appear in an order that moving one block cannot explain (`cats chase mice` / `mice chase cats`) |
//! | [`Rule::Alignment`] | a content word of one prompt is not explained by the other (after stop words, fillers, stems, a small synonym table and typos): any substitution, a one-sided word that flips meaning, or more one-sided words than the tolerance |
//!
//! The rules err on the side of refusing: a refused paraphrase costs one model call, a served
//! near miss is a wrong answer. The measured effect of each rule on the project's own labelled
//! pairs is in docs/cache-quality.md; the harness is [`crate::cache::quality`].

use std::sync::OnceLock;

// Fx hashing: the keys are short words looked up many times per prompt, and nothing here is
// keyed by untrusted input in a way that could be used to flood a table.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// Default cosine threshold. Chosen with all-MiniLM-L6-v2 on the tuning split of the project's
/// pairs by `quality::choose_defaults` (see docs/cache-quality.md); with another embedder,
/// measure again: cosine scales differ between models.
pub const DEFAULT_THRESHOLD: f32 = 0.70;
/// Default number of content words one prompt may have that the other does not explain. Zero:
/// a single added word is often a qualifier that changes the answer ("cook rice" / "cook brown
/// rice"), and with one allowed the project's set served 72% of such pairs.
pub const DEFAULT_ALIGNMENT_TOLERANCE: usize = 0;
/// Default shortest word length for which one edit (or one swap of neighbours) counts as a typo.
pub const DEFAULT_TYPO_MIN_LEN: usize = 6;

/// The verifier's tunable parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifierConfig {
    /// Cosine similarity below which a candidate is refused before any other rule runs.
    pub threshold: f32,
    /// How many content words each prompt may have that the other does not explain, when the
    /// other prompt has none of its own (an added "quickly" or "at home"). A word on each side is
    /// a substitution and is always refused: that is what a near miss looks like.
    pub alignment_tolerance: usize,
    /// Two words both at least this long (in characters) and one edit or one swap of neighbouring
    /// letters apart are taken as the same word misspelled. 0 turns typo matching off. Never
    /// applied to entities, numbers, code or opposition words.
    pub typo_min_len: usize,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
            alignment_tolerance: DEFAULT_ALIGNMENT_TOLERANCE,
            typo_min_len: DEFAULT_TYPO_MIN_LEN,
        }
    }
}

/// The decision for one candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// True when the cached answer may be served for the new prompt.
    pub serve: bool,
    /// The cosine similarity the decision was made with.
    pub similarity: f32,
    /// Why the candidate was refused (the first rule that refused); `None` when served.
    pub reason: Option<String>,
}

/// The verifier's rules, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// Cosine similarity against the threshold.
    Cosine,
    /// Count of negation cues.
    Negation,
    /// Literals and code identifiers.
    Code,
    /// Natural and programming languages.
    Language,
    /// Product versions.
    Version,
    /// Time frames.
    Time,
    /// Units and their roles in a conversion.
    Unit,
    /// Numbers, their order, and arithmetic operators.
    Number,
    /// Named entities.
    Entity,
    /// Opposite members of word pairs.
    Opposition,
    /// Objects of directional prepositions.
    Direction,
    /// Order of the shared words.
    Order,
    /// Token-level alignment of content words.
    Alignment,
}

impl Rule {
    /// Every rule, in the order they run.
    pub const ALL: [Rule; 13] = [
        Rule::Cosine,
        Rule::Negation,
        Rule::Code,
        Rule::Language,
        Rule::Version,
        Rule::Time,
        Rule::Unit,
        Rule::Number,
        Rule::Entity,
        Rule::Opposition,
        Rule::Direction,
        Rule::Order,
        Rule::Alignment,
    ];

    /// The rule's short name, which also starts its reasons.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Cosine => "cosine",
            Rule::Negation => "negation",
            Rule::Code => "code",
            Rule::Language => "language",
            Rule::Version => "version",
            Rule::Time => "time",
            Rule::Unit => "unit",
            Rule::Number => "number",
            Rule::Entity => "entity",
            Rule::Opposition => "opposition",
            Rule::Direction => "direction",
            Rule::Order => "order",
            Rule::Alignment => "alignment",
        }
    }
}

/// One rule's refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The rule that refused.
    pub rule: Rule,
    /// Why, in words (starts with the rule's name).
    pub reason: String,
}

/// Decides whether a cached answer is valid for a new prompt.
#[derive(Clone, Debug, Default)]
pub struct Verifier {
    config: VerifierConfig,
}

impl Verifier {
    /// A verifier with the given parameters.
    pub fn new(config: VerifierConfig) -> Self {
        Self { config }
    }

    /// The parameters.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// The verdict for serving the answer cached for prompt `a` to prompt `b`, whose embeddings
    /// have cosine `similarity`.
    pub fn verify(&self, a: &str, b: &str, similarity: f32) -> Verdict {
        self.verify_facts(
            &PromptFacts::analyze(a),
            &PromptFacts::analyze(b),
            similarity,
        )
    }

    /// As [`Verifier::verify`], with prompts analyzed beforehand (the cache can keep the facts of
    /// a stored prompt next to its vector, and analyze a new prompt once for several candidates).
    pub fn verify_facts(&self, a: &PromptFacts, b: &PromptFacts, similarity: f32) -> Verdict {
        for rule in Rule::ALL {
            if let Some(reason) = self.check(rule, a, b, similarity) {
                return Verdict {
                    serve: false,
                    similarity,
                    reason: Some(reason),
                };
            }
            // Identical prompts (after case and spacing) agree on every text rule.
            if rule == Rule::Cosine && a.key == b.key {
                break;
            }
        }
        Verdict {
            serve: true,
            similarity,
            reason: None,
        }
    }

    /// Every rule that refuses the pair, not only the first: the quality harness uses this to
    /// show which rules carry the weight.
    pub fn rejections(&self, a: &PromptFacts, b: &PromptFacts, similarity: f32) -> Vec<Rejection> {
        Rule::ALL
            .iter()
            .filter_map(|&rule| {
                self.check(rule, a, b, similarity)
                    .map(|reason| Rejection { rule, reason })
            })
            .collect()
    }

    /// One rule's refusal reason, or `None` when the rule lets the pair through.
    pub fn check(
        &self,
        rule: Rule,
        a: &PromptFacts,
        b: &PromptFacts,
        similarity: f32,
    ) -> Option<String> {
        match rule {
            Rule::Cosine => check_cosine(similarity, self.config.threshold),
            Rule::Negation => check_negation(a, b),
            Rule::Code => check_code(a, b),
            Rule::Language => check_languages(a, b),
            Rule::Version => check_versions(a, b),
            Rule::Time => check_time(a, b),
            Rule::Unit => check_units(a, b),
            Rule::Number => check_numbers(a, b),
            Rule::Entity => check_entities(a, b),
            Rule::Opposition => check_opposition(a, b),
            Rule::Direction => check_direction(a, b),
            Rule::Order => check_order(a, b),
            Rule::Alignment => check_alignment(
                a,
                b,
                self.config.alignment_tolerance,
                self.config.typo_min_len,
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Word lists. Written for this verifier; all lower case. They are deliberately small and
// general: each list exists because its words change (or do not change) what a prompt asks.
// ---------------------------------------------------------------------------------------------

/// Function words: never content, never compared by alignment. Negation cues and directional
/// prepositions are here too, because their own rules compare them.
#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did",
    "doing", "done", "have", "has", "had", "having", "i", "me", "my", "mine", "myself", "we", "our",
    "ours", "us", "you", "your", "yours", "u", "ur", "it", "its", "itself", "they", "them", "their",
    "theirs", "he", "him", "his", "she", "her", "hers", "this", "that", "these", "those", "there",
    "here", "what", "whats", "which", "who", "whom", "whose", "when", "where", "why", "how", "to",
    "of", "in", "on", "at", "for", "by", "with", "from", "into", "onto", "about", "as", "and", "or",
    "but", "if", "then", "so", "than", "too", "very", "can", "could", "will", "would", "shall",
    "should", "may", "might", "must", "any", "some", "such", "own", "same", "also", "just", "get",
    "gets", "got", "getting", "go", "goes", "going", "gone", "via", "per", "each", "every", "all",
    "both", "either", "other", "another", "up", "out", "off", "over", "under", "again", "once",
    "not", "no", "never", "without", "nor", "non", "towards", "toward", "vs", "versus", "against",
    "between", "among", "while", "during", "before", "after", "until", "till", "since", "within",
    "through", "because", "whether", "re", "etc", "eg", "ie", "yes", "yeah", "do", "one's",
    "someone", "something", "anything", "anyone", "somebody", "anybody", "thing", "things", "stuff",
    "lot", "lots", "bit", "way", "ways", "s", "t", "d", "ll", "m", "ve",
];

/// Words that carry tone or politeness, not content: dropping or adding them does not change
/// the answer ("please explain X" asks what "X?" asks).
#[rustfmt::skip]
const FILLERS: &[&str] = &[
    "please", "pls", "plz", "kindly", "thanks", "thx", "hey", "hi", "hello", "ok", "okay",
    "actually", "really", "exactly", "basically", "simply", "quick", "quickly", "q", "question",
    "wondering", "wonder", "curious", "tell", "explain", "explanation", "describe", "know", "want",
    "wanted", "like", "need", "help", "helps", "ugh", "hmm", "um", "well", "mind", "let", "able",
    "possible", "provide", "give", "show", "inquire", "ask", "wish", "generally", "usually",
    "typically", "exact", "detail", "details", "briefly", "concept", "idea", "term", "meaning",
    "mean", "means", "definition", "define", "purpose", "procedure", "process", "guide", "overview",
    "summary", "correct", "proper", "properly", "right", "best", "good", "ideal", "recommended",
    "easy", "easiest", "simple", "simplest", "anyway", "somehow", "walk", "considered", "count",
    "counts", "supposed", "new", "start", "make", "do", "use", "using", "find", "see", "check",
    "look", "looks", "happen", "happens", "work", "works", "way", "ever", "even", "still",
    "already", "much", "many",
    // Generic task verbs: "convert 5 miles to km" asks what "5 miles in km" asks.
    "create", "convert", "calculate", "compute", "determine", "take",
];

/// Words treated as the same for alignment. The first word of each row is the canonical form.
/// General English and programming variants; spelling variants (British/American) too.
#[rustfmt::skip]
const SYNONYMS: &[&[&str]] = &[
    &["buy", "purchase", "bought", "purchased"], &["obtain", "receive", "acquire"],
    &["repair", "fix", "mend"], &["resolve", "solve"],
    &["remove", "delete", "erase", "eliminate", "rid"],
    &["change", "modify", "alter", "update", "edit"], &["display", "show"],
    &["begin", "start", "commence"], &["stop", "halt", "cease", "prevent"],
    &["finish", "end", "complete"], &["require", "requirement"], &["assist", "help"],
    &["locate", "find"], &["exit", "quit", "leave"], &["big", "large", "huge"],
    &["small", "little", "tiny"], &["fast", "quick", "rapid", "speedy"], &["faster", "quicker"],
    &["fastest", "quickest"], &["cheap", "inexpensive", "affordable", "cheaper", "cheapest"],
    &["main", "primary", "principal", "major", "chief", "key"], &["car", "automobile"],
    &["doctor", "physician"], &["child", "kid", "children", "kids"],
    &["write", "wrote", "written", "author", "writer"], &["symptom", "sign"],
    &["problem", "issue", "trouble"], &["photo", "picture", "image", "pic"], &["movie", "film"],
    &["trip", "journey"], &["flight", "fly", "flying", "flies"], &["cost", "price", "pricing"],
    &["pay", "payment", "paid"], &["allow", "permit", "permitted", "allowed"], &["learn", "study"],
    &["home", "house"], &["employee", "worker", "staff"], &["manager", "boss"],
    &["trash", "garbage", "rubbish"], &["sick", "ill"],
    &["pain", "hurt", "hurts", "ache", "aches", "sore"],
    &["medication", "medicine", "drug", "meds"], &["calculate", "compute", "calculation"],
    &["formula", "equation"], &["people", "person", "persons", "folks"], &["amount", "quantity"],
    &["enough", "sufficient"], &["maximum", "max"], &["minimum", "min"],
    &["phone", "cellphone", "smartphone", "mobile"], &["wifi", "wi-fi", "wireless"],
    &["tire", "tyre"], &["color", "colour"], &["favorite", "favourite"], &["center", "centre"],
    &["gray", "grey"], &["organize", "organise"], &["analyze", "analyse", "analysis"],
    &["license", "licence"], &["dictionary", "dict"], &["integer", "int"], &["string", "str"],
    &["repository", "repo"], &["directory", "folder", "dir"], &["function", "func", "fn"],
    &["variable", "var"], &["argument", "arg", "parameter", "param"], &["environment", "env"],
    &["configuration", "config"], &["database", "db"], &["application", "app"],
    &["documentation", "docs", "doc"], &["message", "msg"], &["information", "info"],
    &["number", "num"], &["visit", "visiting"], &["cause", "causes", "reason"],
    &["abroad", "internationally", "international", "overseas"], &["ship", "shipping", "shipment"],
    &["cancel", "cancellation"], &["create", "build"], &["duplicate", "dupe"],
    &["brew", "prepare", "preparing"],
];

/// An opposition group member: the group, the member's class within it, and whether the word
/// alone (with nothing opposite in the other prompt) must still be explained.
#[derive(Clone, Copy, Debug)]
struct Opp {
    group: &'static str,
    class: u8,
    strong: bool,
}

/// Groups of words whose members change an answer when swapped for each other. Rows:
/// (group, class, strong, words). "Strong" marks words whose mere presence matters (a prompt
/// that adds "decrease" or "unsafe" asks something else); the unmarked default reading of a
/// pair ("good", "safe", "new") is weak, because paraphrases add and drop it freely.
#[rustfmt::skip]
const OPPOSITIONS: &[(&str, u8, bool, &[&str])] = &[
    ("amount", 0, true, &["increase", "raise", "maximize", "boost", "exceed"]),
    ("amount", 0, false, &["more", "most", "greater", "higher", "high", "upper", "above", "up", "top", "rise", "grow", "gain", "win", "won", "over", "maximum", "max"]),
    ("amount", 1, true, &["decrease", "reduce", "minimize", "shrink", "lower"]),
    ("amount", 1, false, &["less", "least", "fewer", "lesser", "low", "below", "down", "bottom", "fall", "drop", "lose", "lost", "loss", "under", "minimum", "min"]),
    ("size", 0, false, &["big", "bigger", "biggest", "large", "larger", "largest", "huge", "tall", "taller", "tallest"]),
    ("size", 1, false, &["small", "smaller", "smallest", "tiny", "shorter", "shortest"]),
    ("speed", 0, false, &["fast", "faster", "fastest", "quick", "quicker", "quickest", "rapid"]),
    ("speed", 1, false, &["slow", "slower", "slowest"]),
    ("length", 0, false, &["long", "longer", "longest"]), ("length", 1, false, &["short"]),
    ("quality", 0, false, &["good", "better", "best", "great"]),
    ("quality", 1, false, &["bad", "worse", "worst", "poor"]),
    ("age", 0, false, &["old", "older", "oldest"]),
    ("age", 1, false, &["young", "younger", "youngest", "new", "newer", "newest"]),
    ("temperature", 0, false, &["hot", "hotter", "warm", "warmer"]),
    ("temperature", 1, false, &["cold", "colder", "cool", "cooler", "chilly"]),
    ("weight", 0, false, &["heavy", "heavier", "heaviest"]),
    ("weight", 1, false, &["light", "lighter", "lightest"]),
    ("sequence", 0, true, &["before", "prior"]), ("sequence", 1, true, &["after", "afterwards"]),
    ("sequence", 2, false, &["within"]), ("sequence", 3, false, &["until", "till"]),
    ("sequence", 4, false, &["since"]), ("timing", 0, false, &["early", "earlier", "earliest"]),
    ("timing", 1, false, &["late", "later", "latest"]), ("side", 0, false, &["left"]),
    ("side", 1, false, &["right"]), ("compass", 0, true, &["north", "northern"]),
    ("compass", 1, true, &["south", "southern"]), ("compass", 2, true, &["east", "eastern"]),
    ("compass", 3, true, &["west", "western"]), ("sort", 0, true, &["ascending", "asc"]),
    ("sort", 1, true, &["descending", "desc"]),
    ("flow", 0, true, &["import", "input", "inbound", "incoming", "ingress", "inflow"]),
    ("flow", 1, true, &["export", "output", "outbound", "outgoing", "egress", "outflow"]),
    ("transfer", 0, true, &["send", "sent", "upload", "push"]),
    ("transfer", 1, true, &["receive", "received", "download", "pull"]),
    ("trade", 0, true, &["buy", "bought", "purchase"]), ("trade", 1, true, &["sell", "sold"]),
    ("lending", 0, true, &["lend", "lent"]), ("lending", 1, true, &["borrow"]),
    ("codec", 0, true, &["encrypt", "encode", "serialize", "compress", "zip", "pack", "lock", "mount", "marshal", "encryption", "encoding"]),
    ("codec", 1, true, &["decrypt", "decode", "deserialize", "decompress", "unzip", "unpack", "unlock", "unmount", "unmarshal", "decryption", "decoding"]),
    ("install", 0, false, &["install", "installation"]),
    ("install", 1, true, &["uninstall", "reinstall"]),
    ("edit", 0, false, &["add", "insert", "append"]),
    ("edit", 1, true, &["remove", "delete", "erase", "rid", "eliminate"]),
    ("switch", 0, true, &["enable", "activate"]), ("switch", 1, true, &["disable", "deactivate"]),
    ("link", 0, false, &["connect", "subscribe", "follow", "attach", "login"]),
    ("link", 1, true, &["disconnect", "unsubscribe", "unfollow", "detach", "logout"]),
    ("scope", 0, false, &["include", "including", "included"]),
    ("scope", 1, true, &["exclude", "excluding", "excluded", "except"]),
    ("permission", 0, false, &["allow", "allowed", "permit", "permitted"]),
    ("permission", 1, true, &["block", "deny", "forbid", "forbidden", "prohibit", "prohibited", "ban", "banned"]),
    ("response", 0, false, &["accept", "approve", "agree"]),
    ("response", 1, true, &["decline", "reject", "refuse", "disapprove", "disagree"]),
    ("state", 0, false, &["open", "opened", "opening"]),
    ("state", 1, false, &["close", "closed", "closing", "shut"]),
    ("run", 0, false, &["start", "begin", "launch", "resume"]),
    ("run", 1, true, &["stop", "halt", "cease", "pause", "prevent", "avoid"]),
    ("truth", 0, false, &["true", "truth", "fact"]),
    ("truth", 1, true, &["false", "incorrect", "wrong", "myth"]),
    ("outcome", 0, false, &["pass", "success", "successful", "succeed"]),
    ("outcome", 1, true, &["fail", "failure", "failed", "broken", "crash"]),
    ("legality", 0, false, &["legal", "lawful"]), ("legality", 1, true, &["illegal", "unlawful"]),
    ("safety", 0, false, &["safe", "harmless", "healthy"]),
    ("safety", 1, true, &["unsafe", "dangerous", "harmful", "risky", "toxic", "unhealthy"]),
    ("possibility", 0, false, &["possible"]), ("possibility", 1, true, &["impossible", "unable"]),
    ("eligibility", 0, false, &["eligible"]), ("eligibility", 1, true, &["ineligible"]),
    ("validity", 0, false, &["valid"]), ("validity", 1, true, &["invalid", "void", "expired"]),
    ("availability", 0, false, &["available"]), ("availability", 1, true, &["unavailable"]),
    ("ripeness", 0, false, &["ripe"]), ("ripeness", 1, true, &["unripe", "overripe"]),
    ("necessity", 0, false, &["required", "mandatory", "necessary", "compulsory"]),
    ("necessity", 1, true, &["optional", "unnecessary"]),
    ("sex", 0, true, &["male", "man", "men", "boy", "boys"]),
    ("sex", 1, true, &["female", "woman", "women", "girl", "girls"]),
    ("life-stage", 0, false, &["adult", "adults"]),
    ("life-stage", 1, false, &["child", "children", "kid", "kids", "baby", "babies", "infant", "toddler"]),
    ("life-stage", 2, false, &["teen", "teens", "teenager", "teenagers", "adolescent"]),
    ("life-stage", 3, false, &["senior", "seniors", "elderly"]),
    ("moisture", 0, false, &["oily", "wet", "moist", "humid"]), ("moisture", 1, false, &["dry"]),
    ("depth", 0, true, &["inner"]), ("depth", 1, true, &["outer"]),
    ("origin", 0, true, &["internal"]), ("origin", 1, true, &["external"]),
    ("visibility", 0, true, &["private"]), ("visibility", 1, true, &["public"]),
    ("reach", 0, true, &["local"]), ("reach", 1, true, &["global", "remote"]),
    ("binding", 0, true, &["static"]), ("binding", 1, true, &["dynamic"]),
    ("concurrency", 0, true, &["sync", "synchronous", "synchronously"]),
    ("concurrency", 1, true, &["async", "asynchronous", "asynchronously"]),
    ("merit", 0, false, &["pro", "pros", "advantage", "advantages", "benefit", "benefits"]),
    ("merit", 1, false, &["con", "cons", "disadvantage", "disadvantages", "drawback", "drawbacks", "downside", "downsides", "risk", "risks"]),
    ("journey", 0, true, &["arrival", "arrive", "arrivals"]),
    ("journey", 1, true, &["departure", "depart", "departures"]), ("sun", 0, true, &["sunrise"]),
    ("sun", 1, true, &["sunset"]), ("position", 1, true, &["last", "final"]),
];

/// Negation cues (after contractions are split: "can't" gives "can" and "not").
#[rustfmt::skip]
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "none", "nobody", "nothing", "nowhere", "neither", "nor", "without",
    "non", "cannot",
];

/// Arithmetic operators by class; symbols are matched too.
#[rustfmt::skip]
const OPERATORS: &[(&str, &[&str])] = &[
    ("plus", &["plus", "+", "add", "added", "adding", "sum"]),
    ("minus", &["minus", "subtract", "subtracted", "subtracting"]),
    ("times", &["times", "*", "×", "multiply", "multiplied", "multiplying", "product"]),
    ("divided", &["divide", "divided", "dividing", "÷", "quotient"]),
    ("power", &["power", "^", "exponent"]), ("squared", &["squared", "square"]),
    ("cubed", &["cubed", "cube"]), ("root", &["root", "sqrt"]),
    ("modulo", &["mod", "modulo", "remainder"]),
];

/// Units: surface forms (lower case) → canonical name. Single letters are only units right
/// after a number (see `unit_at`).
#[rustfmt::skip]
const UNITS: &[(&str, &[&str])] = &[
    ("mm", &["mm", "millimeter", "millimeters", "millimetre", "millimetres"]),
    ("cm", &["cm", "centimeter", "centimeters", "centimetre", "centimetres"]),
    ("m", &["meter", "meters", "metre", "metres"]),
    ("km", &["km", "kms", "kilometer", "kilometers", "kilometre", "kilometres"]),
    ("inch", &["inch", "inches", "\""]), ("foot", &["ft", "foot", "feet"]),
    ("yard", &["yd", "yds", "yard", "yards"]), ("mile", &["mi", "mile", "miles"]),
    ("mg", &["mg", "milligram", "milligrams"]), ("mcg", &["mcg", "µg", "microgram", "micrograms"]),
    ("g", &["gram", "grams", "gr"]),
    ("kg", &["kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"]),
    ("lb", &["lb", "lbs", "pound", "pounds"]), ("oz", &["oz", "ounce", "ounces"]),
    ("ton", &["ton", "tons", "tonne", "tonnes"]), ("stone", &["stone", "stones"]),
    ("ml", &["ml", "milliliter", "milliliters", "millilitre", "millilitres"]),
    ("l", &["liter", "liters", "litre", "litres"]), ("gallon", &["gal", "gallon", "gallons"]),
    ("quart", &["qt", "quart", "quarts"]), ("pint", &["pt", "pint", "pints"]),
    ("cup", &["cup", "cups"]), ("tbsp", &["tbsp", "tablespoon", "tablespoons"]),
    ("tsp", &["tsp", "teaspoon", "teaspoons"]), ("stick", &["stick", "sticks"]),
    ("celsius", &["celsius", "°c", "centigrade"]), ("fahrenheit", &["fahrenheit", "°f"]),
    ("kelvin", &["kelvin"]), ("second", &["sec", "secs", "second", "seconds"]),
    ("minute", &["minute", "minutes", "mins"]), ("hour", &["hr", "hrs", "hour", "hours"]),
    ("day", &["day", "days"]), ("week", &["week", "weeks", "wk", "wks"]),
    ("month", &["month", "months"]), ("year", &["year", "years", "yr", "yrs"]),
    ("decade", &["decade", "decades"]), ("century", &["century", "centuries"]), ("mph", &["mph"]),
    ("km/h", &["km/h", "kph", "kmh", "kmph"]), ("m/s", &["m/s"]),
    ("knot", &["knot", "knots", "kn"]), ("bit", &["bit", "bits"]), ("byte", &["byte", "bytes"]),
    ("kb", &["kb", "kilobyte", "kilobytes"]), ("mb", &["mb", "megabyte", "megabytes"]),
    ("gb", &["gb", "gigabyte", "gigabytes"]), ("tb", &["tb", "terabyte", "terabytes"]),
    ("kib", &["kib", "kibibyte", "kibibytes"]), ("mib", &["mib", "mebibyte", "mebibytes"]),
    ("gib", &["gib", "gibibyte", "gibibytes"]), ("megabit", &["megabit", "megabits", "mbit"]),
    ("mbps", &["mbps"]), ("gbps", &["gbps"]), ("kcal", &["kcal", "calorie", "calories", "cal"]),
    ("kj", &["kj", "kilojoule", "kilojoules"]), ("joule", &["joule", "joules"]), ("kwh", &["kwh"]),
    ("watt", &["watt", "watts"]), ("kw", &["kw", "kilowatt", "kilowatts"]),
    ("acre", &["acre", "acres"]), ("hectare", &["hectare", "hectares", "ha"]),
    ("percent", &["percent", "percentage", "%", "pct"]), ("pixel", &["px", "pixel", "pixels"]),
    ("dpi", &["dpi"]), ("usd", &["usd", "dollar", "dollars", "$", "bucks"]),
    ("eur", &["eur", "euro", "euros", "€"]), ("gbp", &["gbp", "£", "sterling", "quid"]),
    ("jpy", &["jpy", "yen", "¥"]), ("cny", &["cny", "rmb", "yuan", "renminbi"]),
    ("inr", &["inr", "rupee", "rupees"]), ("chf", &["chf", "franc", "francs"]), ("cad", &["cad"]),
    ("aud", &["aud"]), ("btc", &["btc", "bitcoin", "bitcoins"]), ("eth", &["eth", "ether"]),
];

/// Words that make a different unit out of the next one ("square meter", "British pound").
#[rustfmt::skip]
const UNIT_MODIFIERS: &[&str] = &[
    "square", "sq", "cubic", "nautical", "fluid", "fl", "british", "imperial", "metric", "canadian",
    "australian", "us", "light",
];

/// Units with one letter that count only right after a number or a degree sign ("5 m", "180 C").
#[rustfmt::skip]
const LETTER_UNITS: &[(&str, &str)] = &[
    ("m", "m"), ("g", "g"), ("l", "l"), ("s", "second"), ("h", "hour"), ("c", "celsius"),
    ("f", "fahrenheit"), ("min", "minute"),
];

/// Number words.
#[rustfmt::skip]
const NUMBER_WORDS: &[(&str, u64)] = &[
    ("zero", 0), ("one", 1), ("two", 2), ("three", 3), ("four", 4), ("five", 5), ("six", 6),
    ("seven", 7), ("eight", 8), ("nine", 9), ("ten", 10), ("eleven", 11), ("twelve", 12),
    ("thirteen", 13), ("fourteen", 14), ("fifteen", 15), ("sixteen", 16), ("seventeen", 17),
    ("eighteen", 18), ("nineteen", 19), ("twenty", 20), ("thirty", 30), ("forty", 40),
    ("fifty", 50), ("sixty", 60), ("seventy", 70), ("eighty", 80), ("ninety", 90), ("dozen", 12),
    ("first", 1), ("third", 3), ("fourth", 4), ("fifth", 5), ("sixth", 6), ("seventh", 7),
    ("eighth", 8), ("ninth", 9), ("tenth", 10), ("eleventh", 11), ("twelfth", 12),
    ("twentieth", 20), ("hundredth", 100), ("once", 1), ("twice", 2), ("thrice", 3), ("single", 1),
    ("double", 2), ("triple", 3), ("sixes", 6), ("fives", 5),
];

/// Multipliers among number words.
#[rustfmt::skip]
const NUMBER_SCALES: &[(&str, u64)] = &[
    ("hundred", 100), ("thousand", 1_000), ("million", 1_000_000), ("billion", 1_000_000_000),
    ("trillion", 1_000_000_000_000),
];

/// Places, written in lower case: countries, US states, large cities, continents, regions.
/// Multi-word names are matched as phrases. A prompt typed in lower case still names them.
#[rustfmt::skip]
const PLACES: &[&str] = &[
    "afghanistan", "albania", "algeria", "andorra", "angola", "argentina", "armenia", "australia",
    "austria", "azerbaijan", "bahamas", "bahrain", "bangladesh", "barbados", "belarus", "belgium",
    "belize", "benin", "bhutan", "bolivia", "bosnia", "botswana", "brazil", "brunei", "bulgaria",
    "burundi", "cambodia", "cameroon", "canada", "chile", "china", "colombia", "congo",
    "costa rica", "croatia", "cuba", "cyprus", "czechia", "czech republic", "denmark", "djibouti",
    "dominica", "ecuador", "egypt", "el salvador", "eritrea", "estonia", "eswatini", "ethiopia",
    "fiji", "finland", "france", "gabon", "gambia", "georgia", "germany", "ghana", "greece",
    "grenada", "guatemala", "guinea", "guyana", "haiti", "honduras", "hungary", "iceland", "india",
    "indonesia", "iran", "iraq", "ireland", "israel", "italy", "jamaica", "japan", "jordan",
    "kazakhstan", "kenya", "kiribati", "kosovo", "kuwait", "kyrgyzstan", "laos", "latvia",
    "lebanon", "lesotho", "liberia", "libya", "liechtenstein", "lithuania", "luxembourg",
    "madagascar", "malawi", "malaysia", "maldives", "mali", "malta", "mauritania", "mauritius",
    "mexico", "moldova", "monaco", "mongolia", "montenegro", "morocco", "mozambique", "myanmar",
    "namibia", "nauru", "nepal", "netherlands", "holland", "new zealand", "nicaragua", "niger",
    "nigeria", "north korea", "norway", "oman", "pakistan", "palau", "palestine", "panama",
    "paraguay", "peru", "philippines", "poland", "portugal", "qatar", "romania", "russia", "rwanda",
    "samoa", "san marino", "saudi arabia", "senegal", "serbia", "seychelles", "sierra leone",
    "singapore", "slovakia", "slovenia", "somalia", "south africa", "south korea", "korea", "spain",
    "sri lanka", "sudan", "suriname", "sweden", "switzerland", "syria", "taiwan", "tajikistan",
    "tanzania", "thailand", "togo", "tonga", "trinidad", "tunisia", "turkey", "turkmenistan",
    "tuvalu", "uganda", "ukraine", "united arab emirates", "uae", "united kingdom", "uk", "britain",
    "great britain", "england", "scotland", "wales", "united states", "usa", "america", "uruguay",
    "uzbekistan", "vanuatu", "vatican", "venezuela", "vietnam", "yemen", "zambia", "zimbabwe",
    "alabama", "alaska", "arizona", "arkansas", "california", "colorado", "connecticut", "delaware",
    "florida", "hawaii", "idaho", "illinois", "indiana", "iowa", "kansas", "kentucky", "louisiana",
    "maine", "maryland", "massachusetts", "michigan", "minnesota", "mississippi", "missouri",
    "montana", "nebraska", "nevada", "new hampshire", "new jersey", "new mexico", "north carolina",
    "north dakota", "ohio", "oklahoma", "oregon", "pennsylvania", "rhode island", "south carolina",
    "south dakota", "tennessee", "texas", "utah", "vermont", "virginia", "washington",
    "west virginia", "wisconsin", "wyoming", "africa", "asia", "europe", "antarctica", "oceania",
    "north america", "south america", "latin america", "middle east", "scandinavia", "caribbean",
    "balkans", "siberia", "patagonia", "new york", "los angeles", "chicago", "houston", "phoenix",
    "philadelphia", "san antonio", "san diego", "dallas", "austin", "san francisco", "seattle",
    "denver", "boston", "miami", "atlanta", "las vegas", "new orleans", "portland", "detroit",
    "nashville", "toronto", "vancouver", "montreal", "mexico city", "havana", "bogota", "lima",
    "santiago", "buenos aires", "sao paulo", "rio de janeiro", "london", "paris", "berlin",
    "madrid", "barcelona", "rome", "milan", "naples", "venice", "florence", "lisbon", "porto",
    "amsterdam", "brussels", "vienna", "prague", "budapest", "bucharest", "warsaw", "krakow",
    "munich", "hamburg", "frankfurt", "zurich", "geneva", "stockholm", "oslo", "copenhagen",
    "helsinki", "dublin", "edinburgh", "manchester", "athens", "istanbul", "moscow", "kyiv", "kiev",
    "cairo", "marrakech", "casablanca", "nairobi", "lagos", "cape town", "johannesburg", "dubai",
    "abu dhabi", "doha", "tel aviv", "jerusalem", "tehran", "mumbai", "delhi", "new delhi",
    "bangalore", "kolkata", "beijing", "shanghai", "hong kong", "shenzhen", "tokyo", "osaka",
    "kyoto", "seoul", "busan", "bangkok", "hanoi", "singapore", "kuala lumpur", "jakarta", "bali",
    "manila", "sydney", "melbourne", "brisbane", "perth", "auckland", "wellington", "lyon",
    "marseille", "nice", "bordeaux", "seville", "valencia", "brighton", "oxford", "cambridge",
    "heathrow", "gatwick",
];

/// Place names that are also common English words: they count only when capitalized.
#[rustfmt::skip]
const AMBIGUOUS_PLACES: &[&str] = &[
    "turkey", "china", "jordan", "georgia", "nice", "phoenix", "reading", "chad", "guinea",
    "washington", "austin", "bali", "america", "perth", "wellington", "porto", "mali", "oxford",
    "cambridge", "us",
];

/// Natural and programming languages: surface form → canonical name.
#[rustfmt::skip]
const LANGUAGES: &[(&str, &str)] = &[
    ("english", "english"), ("french", "french"), ("german", "german"), ("spanish", "spanish"),
    ("italian", "italian"), ("portuguese", "portuguese"), ("dutch", "dutch"), ("greek", "greek"),
    ("japanese", "japanese"), ("korean", "korean"), ("chinese", "chinese"),
    ("mandarin", "mandarin"), ("cantonese", "cantonese"), ("russian", "russian"),
    ("arabic", "arabic"), ("hindi", "hindi"), ("bengali", "bengali"), ("urdu", "urdu"),
    ("turkish", "turkish"), ("polish", "polish"), ("swedish", "swedish"),
    ("norwegian", "norwegian"), ("danish", "danish"), ("finnish", "finnish"), ("hebrew", "hebrew"),
    ("thai", "thai"), ("vietnamese", "vietnamese"), ("indonesian", "indonesian"),
    ("malay", "malay"), ("tagalog", "tagalog"), ("swahili", "swahili"), ("ukrainian", "ukrainian"),
    ("czech", "czech"), ("hungarian", "hungarian"), ("romanian", "romanian"),
    ("persian", "persian"), ("farsi", "persian"), ("latin", "latin"), ("catalan", "catalan"),
    ("irish", "irish"), ("welsh", "welsh"), ("python", "python"), ("py", "python"),
    ("rust", "rust"), ("java", "java"), ("javascript", "javascript"), ("js", "javascript"),
    ("ecmascript", "javascript"), ("typescript", "typescript"), ("ts", "typescript"), ("c", "c"),
    ("c++", "c++"), ("cpp", "c++"), ("c#", "c#"), ("csharp", "c#"), ("f#", "f#"), ("go", "go"),
    ("golang", "go"), ("ruby", "ruby"), ("php", "php"), ("perl", "perl"), ("kotlin", "kotlin"),
    ("swift", "swift"), ("scala", "scala"), ("haskell", "haskell"), ("ocaml", "ocaml"),
    ("elixir", "elixir"), ("erlang", "erlang"), ("lua", "lua"), ("zig", "zig"), ("bash", "bash"),
    ("zsh", "zsh"), ("powershell", "powershell"), ("sql", "sql"), ("r", "r"), ("julia", "julia"),
    ("dart", "dart"), ("deno", "deno"), ("node", "node"), ("node.js", "node"), ("nodejs", "node"),
    ("matlab", "matlab"), ("fortran", "fortran"), ("cobol", "cobol"), ("clojure", "clojure"),
    ("lisp", "lisp"), ("scheme", "scheme"), ("prolog", "prolog"), ("assembly", "assembly"),
    ("vba", "vba"), ("objective-c", "objective-c"), ("groovy", "groovy"), ("nim", "nim"),
    ("crystal", "crystal"), ("elm", "elm"), ("solidity", "solidity"), ("html", "html"),
    ("css", "css"),
];

/// Language names that are also common words: they count only when capitalized.
#[rustfmt::skip]
const AMBIGUOUS_LANGUAGES: &[&str] = &[
    "c", "r", "go", "swift", "dart", "julia", "crystal", "elm", "nim", "scheme", "assembly",
    "latin", "polish", "node", "ts", "py",
];

/// Products that are commonly followed by a version number ("Windows 11", "iOS 17").
#[rustfmt::skip]
const VERSIONED: &[&str] = &[
    "python", "java", "php", "node", "ruby", "perl", "vue", "angular", "react", "windows", "ios",
    "android", "ubuntu", "debian", "fedora", "macos", "django", "rails", "laravel", "bootstrap",
    "excel", "office", "tls", "ssl", "http", "html", "es", "ecmascript", "postgres", "postgresql",
    "mysql", "ie", "net", "version", "v", "ver", "release", "edition", "kotlin", "scala", "swift",
    "go", "rust", "dotnet", ".net", "gcc", "clang", "llvm", "spring", "redis", "mongodb",
    "kubernetes", "docker", "centos", "rhel", "mac", "osx", "jdk", "jre", "numpy", "pandas",
    "tensorflow", "pytorch", "webpack", "typescript", "c++", "c#",
];

/// Capitalized words that are not entities (pronouns, interjections, SQL-free acronyms of tone).
#[rustfmt::skip]
const NOT_ENTITIES: &[&str] = &[
    "i", "ok", "okay", "hi", "hey", "hello", "ps", "asap", "faq", "fyi",
];

/// Days, months, seasons, holidays, parts of the day and eras: surface → canonical time marker.
#[rustfmt::skip]
const TIME_WORDS: &[(&str, &str)] = &[
    ("yesterday", "yesterday"), ("today", "today"), ("tonight", "tonight"),
    ("tomorrow", "tomorrow"), ("now", "now"), ("currently", "now"), ("current", "now"),
    ("nowadays", "now"), ("presently", "now"), ("recent", "recent"), ("recently", "recent"),
    ("lately", "recent"), ("latest", "recent"), ("monday", "monday"), ("mondays", "monday"),
    ("tuesday", "tuesday"), ("tuesdays", "tuesday"), ("wednesday", "wednesday"),
    ("wednesdays", "wednesday"), ("thursday", "thursday"), ("thursdays", "thursday"),
    ("friday", "friday"), ("fridays", "friday"), ("saturday", "saturday"),
    ("saturdays", "saturday"), ("sunday", "sunday"), ("sundays", "sunday"), ("weekday", "weekday"),
    ("weekdays", "weekday"), ("weekend", "weekend"), ("weekends", "weekend"),
    ("january", "january"), ("february", "february"), ("march", "march"), ("april", "april"),
    ("may", "may"), ("june", "june"), ("july", "july"), ("august", "august"),
    ("september", "september"), ("october", "october"), ("november", "november"),
    ("december", "december"), ("jan", "january"), ("feb", "february"), ("mar", "march"),
    ("apr", "april"), ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "september"),
    ("sept", "september"), ("oct", "october"), ("nov", "november"), ("dec", "december"),
    ("spring", "spring"), ("summer", "summer"), ("autumn", "autumn"), ("fall", "autumn"),
    ("winter", "winter"), ("morning", "morning"), ("mornings", "morning"),
    ("afternoon", "afternoon"), ("afternoons", "afternoon"), ("evening", "evening"),
    ("evenings", "evening"), ("night", "night"), ("nights", "night"), ("noon", "noon"),
    ("midday", "noon"), ("midnight", "midnight"), ("christmas", "christmas"), ("xmas", "christmas"),
    ("easter", "easter"), ("thanksgiving", "thanksgiving"), ("halloween", "halloween"),
    ("hanukkah", "hanukkah"), ("ramadan", "ramadan"), ("diwali", "diwali"),
    ("medieval", "era:medieval"), ("ancient", "era:ancient"), ("prehistoric", "era:prehistoric"),
    ("victorian", "era:victorian"), ("renaissance", "era:renaissance"),
    ("colonial", "era:colonial"),
];

/// Time words that are also common words: they count only when capitalized ("May", "March").
#[rustfmt::skip]
const AMBIGUOUS_TIME: &[&str] = &[
    "may", "march", "jan", "mar", "sep", "oct", "dec", "jun", "jul", "aug", "apr", "nov", "feb",
    "sept",
];

/// Words that, before a period word, make a relative time frame ("last week").
#[rustfmt::skip]
const TIME_RELATIVE: &[(&str, &str)] = &[
    ("this", "this"), ("last", "last"), ("past", "last"), ("previous", "last"), ("next", "next"),
    ("coming", "next"), ("upcoming", "next"), ("following", "next"),
];

/// Words a relative time frame can be made of ("last week", "next quarter").
#[rustfmt::skip]
const TIME_PERIODS: &[&str] = &[
    "week", "weekend", "month", "year", "quarter", "decade", "century", "season", "night",
    "morning", "afternoon", "evening", "time", "semester", "term", "summer", "winter", "spring",
    "autumn", "fall", "hour", "day", "minute",
];

/// Prepositions whose object is compared across the prompts by the direction rule.
#[rustfmt::skip]
const ROLE_MARKERS: &[(&str, &str)] = &[
    ("from", "from"), ("to", "to"), ("into", "to"), ("onto", "to"), ("towards", "to"),
    ("toward", "to"), ("than", "than"), ("before", "before"), ("after", "after"), ("with", "with"),
    ("of", "of"), ("by", "by"), ("against", "against"), ("over", "over"), ("instead", "instead"),
];

/// Lexicon lookups built once from the lists above.
struct Lexicon {
    stop: HashSet<&'static str>,
    filler: HashSet<&'static str>,
    synonym: HashMap<String, String>,
    opposition: HashMap<String, Opp>,
    negation: HashSet<&'static str>,
    operator: HashMap<&'static str, &'static str>,
    unit: HashMap<&'static str, &'static str>,
    unit_modifier: HashSet<&'static str>,
    letter_unit: HashMap<&'static str, &'static str>,
    number_word: HashMap<&'static str, u64>,
    number_scale: HashMap<&'static str, u64>,
    place: HashSet<&'static str>,
    /// First words of multi-word places ("new" of "new york"), to try phrases only there.
    place_first: HashSet<&'static str>,
    ambiguous_place: HashSet<&'static str>,
    language: HashMap<&'static str, &'static str>,
    ambiguous_language: HashSet<&'static str>,
    versioned: HashSet<&'static str>,
    not_entity: HashSet<&'static str>,
    time_word: HashMap<&'static str, &'static str>,
    ambiguous_time: HashSet<&'static str>,
    time_relative: HashMap<&'static str, &'static str>,
    time_period: HashSet<&'static str>,
    role: HashMap<&'static str, &'static str>,
}

fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| {
        let mut synonym = HashMap::default();
        for row in SYNONYMS {
            if let Some(head) = row.first() {
                let head = stem(head);
                for word in row.iter() {
                    synonym.entry(stem(word)).or_insert_with(|| head.clone());
                }
            }
        }
        let mut opposition = HashMap::default();
        for &(group, class, strong, words) in OPPOSITIONS {
            for word in words {
                opposition.insert(
                    stem(word),
                    Opp {
                        group,
                        class,
                        strong,
                    },
                );
            }
        }
        let mut operator = HashMap::default();
        for &(class, words) in OPERATORS {
            for &word in words {
                operator.insert(word, class);
            }
        }
        let mut unit = HashMap::default();
        for &(canonical, words) in UNITS {
            for &word in words {
                unit.insert(word, canonical);
            }
        }
        Lexicon {
            stop: STOP_WORDS.iter().copied().collect(),
            filler: FILLERS.iter().copied().collect(),
            synonym,
            opposition,
            negation: NEGATIONS.iter().copied().collect(),
            operator,
            unit,
            unit_modifier: UNIT_MODIFIERS.iter().copied().collect(),
            letter_unit: LETTER_UNITS.iter().copied().collect(),
            number_word: NUMBER_WORDS.iter().copied().collect(),
            number_scale: NUMBER_SCALES.iter().copied().collect(),
            place: PLACES.iter().copied().collect(),
            place_first: PLACES
                .iter()
                .filter(|p| p.contains(' '))
                .filter_map(|p| p.split(' ').next())
                .collect(),
            ambiguous_place: AMBIGUOUS_PLACES.iter().copied().collect(),
            language: LANGUAGES.iter().copied().collect(),
            ambiguous_language: AMBIGUOUS_LANGUAGES.iter().copied().collect(),
            versioned: VERSIONED.iter().copied().collect(),
            not_entity: NOT_ENTITIES.iter().copied().collect(),
            time_word: TIME_WORDS.iter().copied().collect(),
            ambiguous_time: AMBIGUOUS_TIME.iter().copied().collect(),
            time_relative: TIME_RELATIVE.iter().copied().collect(),
            time_period: TIME_PERIODS.iter().copied().collect(),
            role: ROLE_MARKERS.iter().copied().collect(),
        }
    })
}

/// A light suffix stripper, so that "reversing" meets "reverse" and "calories" meets "calorie".
/// Not a real stemmer: it only has to map a word's inflections to one key, consistently.
fn stem(word: &str) -> String {
    let mut s = word.to_string();
    if s.chars().count() <= 3 || !s.is_ascii() {
        return s;
    }
    if s.ends_with("ies") && s.len() > 4 {
        s.truncate(s.len() - 3);
        s.push('i');
    } else if s.ends_with("sses") {
        s.truncate(s.len() - 2);
    } else if s.ends_with('s') && !s.ends_with("ss") && !s.ends_with("us") && !s.ends_with("is") {
        s.pop();
    }
    let strip = |s: &mut String, suffix: &str| {
        let base = s.len() - suffix.len();
        if s[..base].bytes().any(|c| b"aeiouy".contains(&c)) {
            s.truncate(base);
            let bytes = s.as_bytes();
            let n = bytes.len();
            // "running" → "runn" → "run"; "stopped" → "stopp" → "stop".
            if n >= 2 && bytes[n - 1] == bytes[n - 2] && !b"lsz".contains(&bytes[n - 1]) {
                s.pop();
            }
            // "using" → "us" → "use", so that it meets "use".
            if s.len() <= 3 {
                s.push('e');
            }
            true
        } else {
            false
        }
    };
    if s.ends_with("ing") && s.len() >= 5 {
        strip(&mut s, "ing");
    } else if s.ends_with("ed") && !s.ends_with("eed") && s.len() >= 5 {
        strip(&mut s, "ed");
    }
    // "safely" → "safe", "internationally" → "international".
    if s.ends_with("ly") && s.len() >= 6 {
        s.truncate(s.len() - 2);
    }
    if s.ends_with('y') && s.len() >= 3 {
        s.pop();
        s.push('i');
    }
    // A final e is dropped ("make"/"making" meet at "mak"), except after a doubled consonant,
    // where it is spelling, not inflection ("grille" is not "grill").
    let b = s.as_bytes();
    let doubled =
        b.len() >= 3 && b[b.len() - 2] == b[b.len() - 3] && !b"aeiou".contains(&b[b.len() - 2]);
    if s.ends_with('e') && s.len() >= 4 && !doubled {
        s.pop();
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Tokenizer.
// ---------------------------------------------------------------------------------------------

/// What a token is, before the lexicon looks at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Letters (possibly with digits): a word.
    Word,
    /// A number in digits or words, as a canonical string.
    Number,
    /// An identifier that looks like code (`snake_case`, `camelCase`, `a.b`, `--flag`, `f()`).
    Code,
    /// Punctuation or operators only (`+`, `=`, `->`).
    Symbol,
}

/// Whether a token sits inside a literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lit {
    /// Plain text.
    Plain,
    /// Between backticks: code, compared exactly.
    Backtick,
    /// Between quotes: a phrase to translate, an error message, ...
    Quote,
}

#[derive(Clone, Debug)]
struct Token {
    /// Surface form, outer punctuation trimmed.
    raw: String,
    /// Lower case; for numbers, the canonical value.
    low: String,
    kind: Kind,
    /// Starts with an upper-case letter.
    cap: bool,
    /// At least two letters, all upper case (an acronym).
    caps: bool,
    /// An upper-case letter after the first character ("PayPal", "iPhone").
    inner_cap: bool,
    /// First token of a sentence (its capital letter says nothing).
    start: bool,
    lit: Lit,
}

impl Token {
    fn new(raw: &str, low: String, kind: Kind, start: bool, lit: Lit) -> Self {
        let mut letters = raw.chars().filter(|c| c.is_alphabetic());
        let cap = raw.chars().next().is_some_and(char::is_uppercase);
        let caps = raw.chars().filter(|c| c.is_alphabetic()).count() >= 2
            && letters.all(char::is_uppercase);
        let inner_cap =
            raw.chars().skip(1).any(char::is_uppercase) && raw.chars().any(char::is_lowercase);
        Token {
            raw: raw.to_string(),
            low,
            kind,
            cap,
            caps,
            inner_cap,
            start,
            lit,
        }
    }

    fn word(raw: &str, start: bool, lit: Lit) -> Self {
        Token::new(raw, raw.to_lowercase(), Kind::Word, start, lit)
    }

    fn is_word(&self, low: &str) -> bool {
        self.kind == Kind::Word && self.low == low
    }
}

/// A literal span: backticked code or a quoted phrase.
#[derive(Clone, Debug)]
struct Literal {
    /// The text with runs of whitespace collapsed.
    text: String,
    /// Its tokens' lower-case forms, to find it unquoted in the other prompt.
    lows: Vec<String>,
    backtick: bool,
}

/// Splits `text` into plain and literal segments. A single quote opens a literal only after a
/// space or an opening bracket, so that apostrophes ("don't", "Apple's") stay in words.
fn segments(text: &str) -> Vec<(String, Lit)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let fence = c == '`' && chars.get(i + 1) == Some(&'`') && chars.get(i + 2) == Some(&'`');
        let opener = match c {
            '`' if fence => Some(("```", Lit::Backtick)),
            '`' => Some(("`", Lit::Backtick)),
            '"' => Some(("\"", Lit::Quote)),
            '“' => Some(("”", Lit::Quote)),
            '\'' | '‘' if opens_single_quote(&chars, i) => {
                Some((if c == '\'' { "'" } else { "’" }, Lit::Quote))
            }
            _ => None,
        };
        if let Some((close, lit)) = opener {
            let open_len = if fence { 3 } else { 1 };
            let close: Vec<char> = close.chars().collect();
            let from = i + open_len;
            let end = (from..chars.len()).find(|&j| {
                chars[j..].starts_with(&close)
                    && (close != ['\''] && close != ['’'] || closes_single_quote(&chars, j))
            });
            if let Some(j) = end {
                if !plain.is_empty() {
                    out.push((std::mem::take(&mut plain), Lit::Plain));
                }
                let inner: String = chars[from..j].iter().collect();
                if !inner.trim().is_empty() {
                    out.push((inner, lit));
                }
                i = j + close.len();
                continue;
            }
        }
        plain.push(c);
        i += 1;
    }
    if !plain.is_empty() {
        out.push((plain, Lit::Plain));
    }
    out
}

fn opens_single_quote(chars: &[char], i: usize) -> bool {
    let before_ok = i == 0 || chars[i - 1].is_whitespace() || "([{".contains(chars[i - 1]);
    let after_ok = chars.get(i + 1).is_some_and(|c| !c.is_whitespace());
    before_ok && after_ok
}

fn closes_single_quote(chars: &[char], j: usize) -> bool {
    let after_ok = chars
        .get(j + 1)
        .is_none_or(|c| c.is_whitespace() || ".,;:?!)]}".contains(*c));
    let before_ok = j > 0 && !chars[j - 1].is_whitespace();
    after_ok && before_ok
}

/// Trims a whitespace-separated chunk's outer punctuation; the flag says whether it ended a
/// sentence (so the next word's capital letter means nothing).
fn trim_chunk(chunk: &str) -> (&str, bool) {
    let mut s = chunk.trim_start_matches(['(', '[', '{', '"', '\'', '“', '‘', '¿', '¡', '*', '`']);
    let mut ends = false;
    while let Some(c) = s.chars().last() {
        let strip = match c {
            '.' | '?' | '!' | ':' => {
                ends = true;
                true
            }
            ',' | ';' | '"' | '\'' | '”' | '’' | '*' | '`' => true,
            // Keep the closing bracket of "sin(x)", "401(k)", "a[0]".
            ')' => !s.contains('('),
            ']' => !s.contains('['),
            '}' => !s.contains('{'),
            _ => false,
        };
        if !strip {
            break;
        }
        s = &s[..s.len() - c.len_utf8()];
    }
    (s, ends)
}

/// Splits text into tokens (number words already merged into numbers) and its literals.
fn tokenize(text: &str) -> (Vec<Token>, Vec<Literal>) {
    let mut tokens = Vec::new();
    let mut literals = Vec::new();
    let mut start = true;
    for (segment, lit) in segments(text) {
        let mut seg_tokens = Vec::new();
        for chunk in segment.split_whitespace() {
            let (core, ends) = trim_chunk(chunk);
            if !core.is_empty() {
                push_chunk(core, lit, start, &mut seg_tokens);
                start = false;
            }
            if ends {
                start = true;
            }
        }
        let seg_tokens = merge_number_words(seg_tokens);
        if lit != Lit::Plain {
            literals.push(Literal {
                text: segment.split_whitespace().collect::<Vec<_>>().join(" "),
                lows: seg_tokens.iter().map(|t| t.low.clone()).collect(),
                backtick: lit == Lit::Backtick,
            });
            // A literal inside a sentence does not start a new one.
            start = false;
        }
        tokens.extend(seg_tokens);
    }
    (tokens, literals)
}

fn starts_number(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('$' | '€' | '£' | '¥' | '.' | '-' | '+') => {
            chars.next().is_some_and(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// "e.g", "U.S", "a.m": single letters separated by dots.
fn is_abbreviation(s: &str) -> bool {
    s.contains('.')
        && s.split('.')
            .all(|part| part.chars().count() == 1 && part.chars().all(char::is_alphabetic))
}

fn is_code_like(s: &str) -> bool {
    if !s.chars().any(char::is_alphabetic) {
        return false;
    }
    let mut chars = s.chars();
    let first = chars.next();
    let second = chars.next();
    if s.starts_with("--") || (first == Some('-') && second.is_some_and(char::is_alphabetic)) {
        return true;
    }
    if s.starts_with('@') || s.starts_with('/') || s.starts_with("./") || s.starts_with("~/") {
        return true;
    }
    if s.contains("::")
        || ['_', '(', '<', '>', '=', '[', '{', '$', '\\', '|']
            .iter()
            .any(|&c| s.contains(c))
    {
        return true;
    }
    // camelCase starting with a lower-case letter: useEffect, getUserById (also iPhone, macOS).
    let v: Vec<char> = s.chars().collect();
    if v.first().is_some_and(|c| c.is_lowercase())
        && v.windows(2)
            .any(|w| w[0].is_lowercase() && w[1].is_uppercase())
    {
        return true;
    }
    // Dotted names: os.path.join, main.rs (not abbreviations like e.g).
    if !is_abbreviation(s)
        && v.windows(3)
            .any(|w| w[0].is_alphanumeric() && w[1] == '.' && w[2].is_alphabetic())
    {
        return true;
    }
    false
}

/// One whitespace-separated chunk, outer punctuation already trimmed.
fn push_chunk(core: &str, lit: Lit, start: bool, out: &mut Vec<Token>) {
    let lower = core.to_lowercase();
    if !core.chars().any(char::is_alphanumeric) {
        out.push(Token::new(core, lower, Kind::Symbol, start, lit));
        return;
    }
    // Languages whose names carry symbols, maybe with a version: C++20, C#, .NET, Node.js.
    for prefix in ["c++", "c#", "f#", ".net"] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            if rest.chars().all(|c| c.is_ascii_digit() || c == '.') {
                out.push(Token::new(
                    core.get(..prefix.len()).unwrap_or(core),
                    prefix.to_string(),
                    Kind::Word,
                    start,
                    lit,
                ));
                if !rest.is_empty() {
                    out.push(Token::new(rest, rest.to_string(), Kind::Number, false, lit));
                }
                return;
            }
        }
    }
    if lower.ends_with(".js")
        && lower.len() > 3
        && lower[..lower.len() - 3].chars().all(char::is_alphabetic)
    {
        out.push(Token::new(core, lower, Kind::Word, start, lit));
        return;
    }
    if starts_number(core) {
        push_number(core, lit, start, out);
        return;
    }
    if is_code_like(core) {
        out.push(Token::new(core, lower, Kind::Code, start, lit));
        return;
    }
    if is_abbreviation(core) {
        let joined: String = core.chars().filter(|c| *c != '.').collect();
        out.push(Token::word(&joined, start, lit));
        return;
    }
    if lexicon().unit.contains_key(lower.as_str()) {
        // km/h, m/s: a unit, not two words.
        out.push(Token::new(core, lower, Kind::Word, start, lit));
        return;
    }
    if core.contains('-') || core.contains('/') || core.contains('.') {
        // pour-over, two-factor, non-refundable, and/or: each part is a word.
        let mut first = true;
        for part in core.split(['-', '/', '.']).filter(|p| !p.is_empty()) {
            push_chunk(part, lit, start && first, out);
            first = false;
        }
        return;
    }
    if core.contains('\'') || core.contains('’') {
        push_contraction(core, lit, start, out);
        return;
    }
    push_word(core, lit, start, out);
}

/// "don't" → "do" + "not"; "Apple's" → "Apple"; "I'm" → "I".
fn push_contraction(core: &str, lit: Lit, start: bool, out: &mut Vec<Token>) {
    let normalized = core.replace('’', "'");
    // Byte offsets are taken from the string they slice: lower-casing can change lengths.
    if let Some(raw_base) = normalized
        .strip_suffix("n't")
        .or_else(|| normalized.strip_suffix("N'T"))
    {
        let lower = raw_base.to_lowercase();
        let base = match lower.as_str() {
            "ca" => "can".to_string(),
            "wo" => "will".to_string(),
            "sha" => "shall".to_string(),
            "ai" => "is".to_string(),
            _ => lower,
        };
        out.push(Token::new(raw_base, base, Kind::Word, start, lit));
        out.push(Token::new("n't", "not".to_string(), Kind::Word, false, lit));
        return;
    }
    if let Some((head, suffix)) = normalized.split_once('\'') {
        let suffix = suffix.to_lowercase();
        if ["s", "re", "ve", "ll", "d", "m", "t", ""].contains(&suffix.as_str()) {
            push_word(head, lit, start, out);
            return;
        }
    }
    let joined: String = normalized.chars().filter(|c| *c != '\'').collect();
    push_word(&joined, lit, start, out);
}

/// A plain word; "python3" and "v2" become a word and a number.
fn push_word(core: &str, lit: Lit, start: bool, out: &mut Vec<Token>) {
    if core.is_empty() {
        return;
    }
    if let Some(split) = core.find(|c: char| c.is_ascii_digit()) {
        let (letters, digits) = core.split_at(split);
        let lower = letters.to_lowercase();
        let lex = lexicon();
        if !letters.is_empty()
            && letters.chars().all(char::is_alphabetic)
            && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
            && (lex.versioned.contains(lower.as_str()) || lex.language.contains_key(lower.as_str()))
        {
            out.push(Token::new(letters, lower, Kind::Word, start, lit));
            out.push(Token::new(
                digits,
                digits.to_string(),
                Kind::Number,
                false,
                lit,
            ));
            return;
        }
    }
    if lower_is("cannot", core) {
        out.push(Token::new(core, "can".to_string(), Kind::Word, start, lit));
        out.push(Token::new(core, "not".to_string(), Kind::Word, false, lit));
        return;
    }
    out.push(Token::word(core, start, lit));
}

fn lower_is(word: &str, raw: &str) -> bool {
    raw.eq_ignore_ascii_case(word)
}

/// A chunk that starts like a number: "$1,000", "3.12", "1/3", "5km", "1920s", "401(k)", "50%".
fn push_number(core: &str, lit: Lit, start: bool, out: &mut Vec<Token>) {
    let lex = lexicon();
    let mut rest = core;
    let mut currency = None;
    if let Some(c) = rest.chars().next() {
        if "$€£¥".contains(c) {
            currency = lex.unit.get(&core[..c.len_utf8()]).copied();
            rest = &rest[c.len_utf8()..];
        }
    }
    let mut value = String::new();
    if let Some(r) = rest.strip_prefix('-') {
        value.push('-');
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    // Digits, with separators only when a digit follows them (1,000  3.12  1/3  3:30  2024-03-01).
    let bytes = rest.as_bytes();
    let mut end = 0;
    while end < bytes.len() {
        let b = bytes[end];
        if b.is_ascii_digit()
            || (b",.:/-".contains(&b) && bytes.get(end + 1).is_some_and(u8::is_ascii_digit))
        {
            end += 1;
        } else {
            break;
        }
    }
    let digits = &rest[..end];
    let suffix = &rest[end..];
    // Thousands separators go; any other comma is kept (it then only has to match itself).
    let is_grouped = digits.contains(',')
        && digits.split(',').enumerate().all(|(i, g)| {
            let g = g.split('.').next().unwrap_or(g);
            if i == 0 {
                (1..=3).contains(&g.len())
            } else {
                g.len() == 3
            }
        });
    if is_grouped {
        value.extend(digits.chars().filter(|&c| c != ','));
    } else {
        value.push_str(digits);
    }
    let suffix_low = suffix.to_lowercase().replace(['(', ')'], "");
    let mut unit_after: Option<String> = currency.map(str::to_string);
    let mut words_after: Vec<&str> = Vec::new();
    match suffix_low.as_str() {
        "" | "st" | "nd" | "rd" | "th" | "x" | "°" => {}
        // Decades: 1920s, 90s.
        "s" | "'s" => value.push('s'),
        // Magnitudes stay part of the value: 10k, 4K, 401(k), $5m.
        "k" | "m" | "b" | "bn" if currency.is_some() || suffix_low == "k" => {
            value.push_str(&suffix_low)
        }
        s if s.starts_with('-') => {
            words_after = suffix.split('-').filter(|p| !p.is_empty()).collect()
        }
        s => {
            if lex.unit.contains_key(s) || lex.letter_unit.contains_key(s) {
                unit_after = Some(s.to_string());
            } else if let Some(unit) = s.strip_prefix('°') {
                unit_after = Some(format!("°{unit}"));
            } else {
                value.push_str(s);
            }
        }
    }
    out.push(Token::new(core, value, Kind::Number, start, lit));
    if let Some(unit) = unit_after {
        out.push(Token::new(&unit, unit.clone(), Kind::Word, false, lit));
    }
    for word in words_after {
        push_chunk(word, lit, false, out);
    }
}

/// Turns runs of number words into numbers: "twenty five" → 25, "a dozen" → 12, "one third" →
/// 1 and 3 (so that it differs from "one fifth"), "half" → 0.5.
fn merge_number_words(tokens: Vec<Token>) -> Vec<Token> {
    let lex = lexicon();
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut run: Option<(u64, u64, Vec<String>, bool, Lit)> = None; // (total, current, words, start, lit)
    let flush = |run: &mut Option<(u64, u64, Vec<String>, bool, Lit)>, out: &mut Vec<Token>| {
        if let Some((total, current, words, start, lit)) = run.take() {
            let raw = words.join(" ");
            out.push(Token::new(
                &raw,
                (total + current).to_string(),
                Kind::Number,
                start,
                lit,
            ));
        }
    };
    for (i, token) in tokens.iter().enumerate() {
        if token.kind != Kind::Word || token.lit == Lit::Backtick {
            flush(&mut run, &mut out);
            out.push(token.clone());
            continue;
        }
        let low = token.low.as_str();
        let ordinal_second = low == "second"
            && i > 0
            && ["the", "my", "your", "his", "her", "their", "our"]
                .contains(&tokens[i - 1].low.as_str());
        if low == "half" {
            flush(&mut run, &mut out);
            out.push(Token::new(
                &token.raw,
                "0.5".to_string(),
                Kind::Number,
                token.start,
                token.lit,
            ));
            continue;
        }
        let is_ordinal = ordinal_second
            || (low.ends_with("th")
                || [
                    "first", "third", "once", "twice", "thrice", "single", "double", "triple",
                    "sixes", "fives",
                ]
                .contains(&low))
                && lex.number_word.contains_key(low);
        if is_ordinal {
            flush(&mut run, &mut out);
            let value = if ordinal_second {
                2
            } else {
                lex.number_word.get(low).copied().unwrap_or(0)
            };
            out.push(Token::new(
                &token.raw,
                value.to_string(),
                Kind::Number,
                token.start,
                token.lit,
            ));
            continue;
        }
        if let Some(&v) = lex.number_word.get(low) {
            match &mut run {
                Some((_, current, words, _, _))
                    if *current % 100 == 0 && *current > 0 && v < 100 =>
                {
                    *current += v;
                    words.push(token.raw.clone());
                }
                Some((_, current, words, _, _))
                    if *current % 10 == 0 && *current % 100 >= 20 && v < 10 =>
                {
                    *current += v;
                    words.push(token.raw.clone());
                }
                _ => {
                    flush(&mut run, &mut out);
                    run = Some((0, v, vec![token.raw.clone()], token.start, token.lit));
                }
            }
            continue;
        }
        if let Some(&scale) = lex.number_scale.get(low) {
            let entry = run.get_or_insert((0, 0, Vec::new(), token.start, token.lit));
            entry.1 = entry.1.max(1) * scale;
            if scale >= 1000 {
                entry.0 += entry.1;
                entry.1 = 0;
            }
            entry.2.push(token.raw.clone());
            continue;
        }
        // "one hundred and twenty": "and" inside a run of number words.
        if low == "and"
            && run.is_some()
            && tokens
                .get(i + 1)
                .is_some_and(|t| lex.number_word.contains_key(t.low.as_str()))
        {
            continue;
        }
        flush(&mut run, &mut out);
        out.push(token.clone());
    }
    flush(&mut run, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Facts: what the rules compare, extracted once per prompt.
// ---------------------------------------------------------------------------------------------

/// The role a unit plays in a conversion: "5 miles to km" has mile as the source, km as the
/// target; "per day" is a rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum UnitRole {
    Source,
    Target,
    Rate,
}

impl UnitRole {
    fn name(self) -> &'static str {
        match self {
            UnitRole::Source => "source",
            UnitRole::Target => "target",
            UnitRole::Rate => "rate",
        }
    }
}

/// A number and the word right after it ("3 apples"), which lets the same numbers appear in
/// another order when each stays attached to its own noun.
#[derive(Clone, Debug)]
struct Num {
    value: String,
    bound: Option<String>,
}

/// A content word for alignment: its canonical key (stem, synonym), its surface form, and its
/// surface joined with each neighbour (so "sour dough" meets "sourdough").
#[derive(Clone, Debug)]
struct Content {
    canon: String,
    low: String,
    joined: Vec<String>,
}

/// How analysis classified a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cat {
    Free,
    Negation,
    Time,
    Unit,
    Language,
    Entity,
    Operator,
}

/// What the verifier compares, extracted from one prompt. Analysis is pure and takes a few
/// microseconds for a short prompt; the cache may keep it with the stored entry.
#[derive(Clone, Debug, Default)]
pub struct PromptFacts {
    /// Lower case with single spaces: equal keys need no other rule.
    key: String,
    literals: Vec<Literal>,
    /// Code identifiers and whether each sat between backticks.
    code: Vec<(String, bool)>,
    /// Every token's lower-case form, in order (to find a literal written without quotes).
    lows: Vec<String>,
    /// Every form a word of this prompt can be looked up by: surface, stem, canonical key, and
    /// neighbours joined ("sour dough" → "sourdough").
    words: HashSet<String>,
    negations: Vec<String>,
    languages: Vec<String>,
    /// (product, version): "Python 3.12" → ("python", "3.12").
    versions: Vec<(String, String)>,
    times: Vec<String>,
    units: Vec<(String, UnitRole)>,
    numbers: Vec<Num>,
    operators: Vec<&'static str>,
    entities: Vec<String>,
    /// Opposition members in order: (group, class, strong, word).
    opps: Vec<(&'static str, u8, bool, String)>,
    /// Objects of directional prepositions: (role, key).
    roles: Vec<(&'static str, String)>,
    /// Keys of the meaningful tokens, in order.
    items: Vec<String>,
    content: Vec<Content>,
    /// "a", "an", "per", "each", "every": a count of one said without a number.
    has_article: bool,
}

/// The canonical key of a content word: its stem, mapped through the synonym table.
fn canon(low: &str) -> String {
    let stemmed = stem(low);
    lexicon().synonym.get(&stemmed).cloned().unwrap_or(stemmed)
}

fn normalize_key(text: &str) -> String {
    // Symbols stay: "C++" and "C#" differ only in them.
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

impl PromptFacts {
    /// Analyzes one prompt.
    pub fn analyze(text: &str) -> Self {
        let lex = lexicon();
        let (toks, literals) = tokenize(text);
        let n = toks.len();
        let mut cat = vec![Cat::Free; n];
        let mut unit_of: Vec<Option<String>> = vec![None; n];
        let mut facts = PromptFacts {
            key: normalize_key(text),
            literals,
            ..PromptFacts::default()
        };

        for (i, t) in toks.iter().enumerate() {
            if t.kind == Kind::Word && lex.negation.contains(t.low.as_str()) {
                cat[i] = Cat::Negation;
                facts.negations.push(t.low.clone());
            }
        }
        time_scan(&toks, &mut cat, &mut facts.times);
        unit_scan(&toks, &mut cat, &mut unit_of, &mut facts.units);
        for (i, t) in toks.iter().enumerate() {
            if cat[i] != Cat::Free || t.kind != Kind::Word {
                continue;
            }
            if let Some(&language) = lex.language.get(t.low.as_str()) {
                let ambiguous = lex.ambiguous_language.contains(t.low.as_str());
                if !ambiguous || (t.cap && !t.start) || t.lit == Lit::Backtick {
                    cat[i] = Cat::Language;
                    facts.languages.push(language.to_string());
                }
            }
        }
        entity_scan(&toks, &mut cat, &mut facts.entities);

        let has_numbers = toks.iter().any(|t| t.kind == Kind::Number);
        for (i, t) in toks.iter().enumerate() {
            match t.kind {
                Kind::Number => {
                    let bound = toks.get(i + 1).and_then(|next| {
                        if let Some(unit) = &unit_of[i + 1] {
                            Some(unit.clone())
                        } else if next.kind == Kind::Word && !lex.stop.contains(next.low.as_str()) {
                            Some(canon(&next.low))
                        } else {
                            None
                        }
                    });
                    facts.numbers.push(Num {
                        value: t.low.clone(),
                        bound,
                    });
                    if let Some(prev) = i.checked_sub(1).map(|j| &toks[j]) {
                        let product = match cat[i - 1] {
                            Cat::Language => {
                                lex.language.get(prev.low.as_str()).map(|s| s.to_string())
                            }
                            Cat::Entity => Some(prev.low.clone()),
                            _ if prev.kind == Kind::Code
                                || lex.versioned.contains(prev.low.as_str()) =>
                            {
                                Some(prev.low.clone())
                            }
                            _ => None,
                        };
                        if let Some(product) = product {
                            facts.versions.push((product, t.low.clone()));
                        }
                    }
                }
                Kind::Code => facts.code.push((t.raw.clone(), t.lit == Lit::Backtick)),
                Kind::Symbol if has_numbers => {
                    let between_numbers = i > 0
                        && toks[i - 1].kind == Kind::Number
                        && toks.get(i + 1).is_some_and(|t| t.kind == Kind::Number);
                    let class = match t.low.as_str() {
                        "-" | "−" | "–" if between_numbers => Some("minus"),
                        "/" if between_numbers => Some("divided"),
                        other => lex.operator.get(other).copied(),
                    };
                    if let Some(class) = class {
                        facts.operators.push(class);
                    }
                }
                Kind::Word if has_numbers && cat[i] == Cat::Free => {
                    if let Some(&class) = lex.operator.get(t.low.as_str()) {
                        cat[i] = Cat::Operator;
                        facts.operators.push(class);
                    }
                }
                _ => {}
            }
        }

        // Opposition members, content words and item keys.
        let mut keys: Vec<Option<String>> = vec![None; n];
        for (i, t) in toks.iter().enumerate() {
            keys[i] = match (t.kind, cat[i]) {
                (Kind::Number, _) => Some(t.low.clone()),
                (Kind::Code, _) => Some(t.low.clone()),
                (Kind::Word, Cat::Unit) => unit_of[i].clone(),
                (Kind::Word, Cat::Language) => {
                    lex.language.get(t.low.as_str()).map(|s| s.to_string())
                }
                (Kind::Word, Cat::Entity) => Some(t.low.clone()),
                (Kind::Word, Cat::Free) => {
                    let low = t.low.as_str();
                    let stemmed = stem(low);
                    if let Some(opp) = lex.opposition.get(&stemmed) {
                        facts
                            .opps
                            .push((opp.group, opp.class, opp.strong, t.low.clone()));
                    }
                    if lex.stop.contains(low)
                        || lex.filler.contains(low)
                        || t.lit == Lit::Backtick && low.len() <= 1
                    {
                        None
                    } else {
                        let key = lex.synonym.get(&stemmed).cloned().unwrap_or(stemmed);
                        let word_at = |j: usize| {
                            toks.get(j)
                                .filter(|x| x.kind == Kind::Word)
                                .map(|x| x.low.as_str())
                        };
                        let mut joined = Vec::new();
                        if let Some(prev) = i.checked_sub(1).and_then(word_at) {
                            joined.push(format!("{prev}{low}"));
                        }
                        if let Some(next) = word_at(i + 1) {
                            joined.push(format!("{low}{next}"));
                        }
                        facts.content.push(Content {
                            canon: key.clone(),
                            low: t.low.clone(),
                            joined,
                        });
                        Some(key)
                    }
                }
                _ => None,
            };
        }
        for (i, t) in toks.iter().enumerate() {
            if t.kind != Kind::Word || t.lit == Lit::Backtick {
                continue;
            }
            let Some(&role) = lex.role.get(t.low.as_str()) else {
                continue;
            };
            // The object: the next meaningful token, before any other preposition; a
            // coordination shares it ("to buy or lease": both are objects of "to").
            for j in i + 1..n.min(i + 5) {
                if lex.role.contains_key(toks[j].low.as_str()) {
                    break;
                }
                if let Some(key) = &keys[j] {
                    facts.roles.push((role, key.clone()));
                    let mut k = j + 1;
                    while k + 1 < n && matches!(toks[k].low.as_str(), "or" | "and" | "," | "&") {
                        match &keys[k + 1] {
                            Some(next) => facts.roles.push((role, next.clone())),
                            None => break,
                        }
                        k += 2;
                    }
                    break;
                }
            }
        }
        facts.items = keys.into_iter().flatten().collect();
        for (i, t) in toks.iter().enumerate() {
            facts.lows.push(t.low.clone());
            if t.kind == Kind::Symbol {
                continue;
            }
            let stemmed = stem(&t.low);
            if let Some(synonym) = lex.synonym.get(&stemmed) {
                facts.words.insert(synonym.clone());
            }
            facts.words.insert(t.low.clone());
            facts.words.insert(stemmed);
            if let Some(next) = toks.get(i + 1) {
                if t.kind == Kind::Word && next.kind == Kind::Word {
                    facts.words.insert(format!("{}{}", t.low, next.low));
                }
            }
            if let Some(unit) = &unit_of[i] {
                facts.words.insert(unit.clone());
            }
        }
        facts.has_article = toks
            .iter()
            .any(|t| ["a", "an", "per", "each", "every"].contains(&t.low.as_str()));
        facts
    }
}

/// Time frames: days, relative periods ("last week"), months, seasons, parts of the day,
/// holidays, eras, years, decades, centuries, quarters.
fn time_scan(toks: &[Token], cat: &mut [Cat], times: &mut Vec<String>) {
    let lex = lexicon();
    let n = toks.len();
    for i in 0..n {
        if cat[i] != Cat::Free {
            continue;
        }
        let t = &toks[i];
        let next = toks.get(i + 1);
        let prev = i.checked_sub(1).map(|j| &toks[j]);
        if t.kind == Kind::Number {
            let v = t.low.as_str();
            let next_is_unit = next.is_some_and(|x| lex.unit.contains_key(x.low.as_str()));
            let digits = v.trim_end_matches('s');
            if v.len() == 4 && v.bytes().all(|b| b.is_ascii_digit()) && !next_is_unit {
                if let Ok(year) = v.parse::<u32>() {
                    if (1000..=2199).contains(&year) {
                        times.push(format!("year {v}"));
                    }
                }
            } else if v.ends_with('s')
                && (digits.len() == 2 || digits.len() == 4)
                && digits.bytes().all(|b| b.is_ascii_digit())
            {
                times.push(format!("decade {v}"));
            }
            continue;
        }
        if t.kind != Kind::Word || t.lit == Lit::Backtick {
            continue;
        }
        let low = t.low.as_str();
        if low == "right" && next.is_some_and(|x| x.is_word("now")) {
            times.push("now".to_string());
            cat[i] = Cat::Time;
            cat[i + 1] = Cat::Time;
            continue;
        }
        if let Some(&relative) = lex.time_relative.get(low) {
            if let Some(x) = next.filter(|x| x.kind == Kind::Word) {
                let period = x.low.as_str();
                let is_period = lex.time_period.contains(period)
                    || lex.time_period.contains(period.trim_end_matches('s'))
                    || lex
                        .time_word
                        .get(period)
                        .is_some_and(|_| !lex.ambiguous_time.contains(period) || x.cap);
                if is_period {
                    let canonical = lex
                        .time_word
                        .get(period)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| period.trim_end_matches('s').to_string());
                    times.push(format!("{relative} {canonical}"));
                    cat[i] = Cat::Time;
                    cat[i + 1] = Cat::Time;
                    continue;
                }
            }
            if next.is_some_and(|x| x.kind == Kind::Number) {
                // "the past 24 hours": the number and unit are compared by their own rules.
                if let Some(unit) = toks.get(i + 2).and_then(|u| lex.unit.get(u.low.as_str())) {
                    times.push(format!("{relative} {unit}"));
                    cat[i] = Cat::Time;
                    continue;
                }
            }
        }
        if let Some(&marker) = lex.time_word.get(low) {
            let ambiguous_ok = !lex.ambiguous_time.contains(low) || (t.cap && !t.start);
            // "fall" is the season only after "in", "this", "last", ... and not before "of".
            let fall_ok = low != "fall"
                || (prev.is_some_and(|p| {
                    ["in", "this", "last", "next", "during", "early", "late"]
                        .contains(&p.low.as_str())
                }) && !next.is_some_and(|x| x.is_word("of")));
            if ambiguous_ok && fall_ok {
                times.push(marker.to_string());
                cat[i] = Cat::Time;
                continue;
            }
        }
        if low == "ago" {
            if let Some(unit) = prev.and_then(|p| lex.unit.get(p.low.as_str())) {
                times.push(format!("ago {unit}"));
                cat[i] = Cat::Time;
            }
            continue;
        }
        if matches!(low, "century" | "centuries" | "quarter") {
            if let Some(p) = prev.filter(|p| p.kind == Kind::Number) {
                times.push(format!(
                    "{} {}",
                    low.trim_end_matches("ies").trim_end_matches('y'),
                    p.low
                ));
                cat[i] = Cat::Time;
            }
            continue;
        }
        let bytes = low.as_bytes();
        if bytes.len() == 2 && bytes[0] == b'q' && (b'1'..=b'4').contains(&bytes[1]) {
            times.push(format!("quarter {}", bytes[1] - b'0'));
            cat[i] = Cat::Time;
        }
    }
}

/// Units and their role in a conversion: after a number it is the source ("5 miles"), after
/// "how many" the target, after "to"/"in"/"into" the target (or the source, when "how many"
/// already named the target: "how many ounces in a pound"), after "per" a rate.
fn unit_scan(
    toks: &[Token],
    cat: &mut [Cat],
    unit_of: &mut [Option<String>],
    units: &mut Vec<(String, UnitRole)>,
) {
    let lex = lexicon();
    let n = toks.len();
    let is_number_or_degree = |j: usize| {
        toks[j].kind == Kind::Number || matches!(toks[j].low.as_str(), "°" | "degree" | "degrees")
    };
    let is_temperature_letter =
        |j: usize| matches!(toks[j].raw.as_str(), "C" | "F") && j > 0 && is_number_or_degree(j - 1);
    let has_temperature = (0..n).any(|j| {
        matches!(
            lex.unit.get(toks[j].low.as_str()),
            Some(&"celsius") | Some(&"fahrenheit")
        ) || is_temperature_letter(j)
    });
    let mut has_target = false;
    for i in 0..n {
        let t = &toks[i];
        if cat[i] != Cat::Free || t.kind != Kind::Word || t.lit == Lit::Backtick {
            continue;
        }
        let low = t.low.as_str();
        let after_number = i > 0 && is_number_or_degree(i - 1);
        let mut canonical = lex.unit.get(low).map(|s| s.to_string());
        if canonical.is_none() {
            if let Some(&unit) = lex.letter_unit.get(low) {
                let temperature = matches!(low, "c" | "f");
                let ok = if temperature {
                    matches!(t.raw.as_str(), "C" | "F")
                        && (after_number
                            || (has_temperature
                                && i > 0
                                && ["to", "in", "into"].contains(&toks[i - 1].low.as_str())))
                } else {
                    after_number
                };
                if ok {
                    canonical = Some(unit.to_string());
                }
            }
        }
        let Some(mut canonical) = canonical else {
            continue;
        };
        // "square meters", "fluid ounces", "British pounds": the modifier makes another unit.
        let mut first = i;
        if let Some(j) = i.checked_sub(1) {
            let m = toks[j].low.as_str();
            if cat[j] == Cat::Free && lex.unit_modifier.contains(m) {
                let modifier = match m {
                    "sq" => "square",
                    "fl" => "fluid",
                    other => other,
                };
                canonical = if modifier == "british" && canonical == "lb" {
                    "gbp".to_string()
                } else {
                    format!("{modifier} {canonical}")
                };
                first = j;
            }
        }
        let mut k = first;
        while k > 0
            && matches!(
                toks[k - 1].low.as_str(),
                "a" | "an" | "the" | "degree" | "degrees"
            )
        {
            k -= 1;
        }
        let role = match k.checked_sub(1).map(|j| (j, &toks[j])) {
            None => None,
            Some((_, p)) if p.kind == Kind::Number => Some(UnitRole::Source),
            Some((j, p)) if p.low == "per" => {
                if j > 0 && toks[j - 1].kind == Kind::Number {
                    Some(UnitRole::Source)
                } else {
                    Some(UnitRole::Rate)
                }
            }
            Some((j, p))
                if matches!(p.low.as_str(), "many" | "much")
                    && j > 0
                    && toks[j - 1].is_word("how") =>
            {
                Some(UnitRole::Target)
            }
            Some((_, p)) if matches!(p.low.as_str(), "to" | "into" | "in" | "as") => {
                Some(if has_target {
                    UnitRole::Source
                } else {
                    UnitRole::Target
                })
            }
            Some(_) => None,
        };
        let Some(role) = role else {
            continue;
        };
        if role == UnitRole::Target {
            has_target = true;
        }
        for c in cat.iter_mut().take(i + 1).skip(first) {
            *c = Cat::Unit;
        }
        unit_of[i] = Some(canonical.clone());
        units.push((canonical, role));
    }
    // Without a source there is no conversion: in "how many calories are in a banana" or
    // "how much water per day" the unit is what is asked about, an ordinary content word.
    if !units.iter().any(|(_, role)| *role == UnitRole::Source) {
        units.clear();
        for (c, u) in cat.iter_mut().zip(unit_of.iter_mut()) {
            if *c == Cat::Unit {
                *c = Cat::Free;
            }
            *u = None;
        }
    }
}

/// Named entities: known places (phrases, any case unless the name is also a common word),
/// capitalized words inside a sentence, acronyms, mixed-case names, and words mixing letters
/// and digits ("IPv4", "ww1").
fn entity_scan(toks: &[Token], cat: &mut [Cat], entities: &mut Vec<String>) {
    let lex = lexicon();
    let n = toks.len();
    let mut i = 0;
    while i < n {
        let t = &toks[i];
        if cat[i] != Cat::Free || t.kind != Kind::Word || t.lit == Lit::Backtick {
            i += 1;
            continue;
        }
        let mut matched = 0;
        let longest = if lex.place_first.contains(t.low.as_str()) {
            3
        } else {
            1
        };
        for len in (1..=longest).rev() {
            if i + len > n
                || (i..i + len).any(|k| toks[k].kind != Kind::Word || cat[k] != Cat::Free)
            {
                continue;
            }
            let phrase = if len == 1 {
                t.low.clone()
            } else {
                toks[i..i + len]
                    .iter()
                    .map(|x| x.low.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            if lex.place.contains(phrase.as_str()) {
                let ambiguous = lex.ambiguous_place.contains(phrase.as_str());
                if !ambiguous || (t.cap && !t.start) || t.caps {
                    matched = len;
                    break;
                }
            }
        }
        if matched > 0 {
            for k in i..i + matched {
                cat[k] = Cat::Entity;
                entities.push(toks[k].low.clone());
            }
            i += matched;
            continue;
        }
        let low = t.low.as_str();
        let mixed =
            t.raw.chars().any(|c| c.is_ascii_digit()) && t.raw.chars().any(char::is_alphabetic);
        let named = (t.cap && !t.start) || t.caps || t.inner_cap || mixed;
        if named && !lex.not_entity.contains(low) && !lex.stop.contains(low) {
            cat[i] = Cat::Entity;
            entities.push(t.low.clone());
        }
        i += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Rules. `a` is the cached prompt, `b` the new one.
// ---------------------------------------------------------------------------------------------

fn quoted<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("'{}'", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "rule: 'x' vs 'y'", or which prompt alone has something.
fn describe<S: AsRef<str>>(rule: Rule, only_a: &[S], only_b: &[S]) -> Option<String> {
    let name = rule.name();
    match (only_a.is_empty(), only_b.is_empty()) {
        (true, true) => None,
        (false, false) => Some(format!("{name}: {} vs {}", quoted(only_a), quoted(only_b))),
        (false, true) => Some(format!(
            "{name}: {} only in the cached prompt",
            quoted(only_a)
        )),
        (true, false) => Some(format!("{name}: {} only in the new prompt", quoted(only_b))),
    }
}

/// Multiset difference both ways, each side in its own order.
fn multiset_diff<S: AsRef<str> + Clone>(a: &[S], b: &[S]) -> (Vec<S>, Vec<S>) {
    let mut left: Vec<Option<&S>> = b.iter().map(Some).collect();
    let mut only_a = Vec::new();
    for x in a {
        match left
            .iter()
            .position(|y| y.is_some_and(|y| y.as_ref() == x.as_ref()))
        {
            Some(p) => left[p] = None,
            None => only_a.push(x.clone()),
        }
    }
    let only_b = left.into_iter().flatten().cloned().collect();
    (only_a, only_b)
}

fn set_diff(a: &[String], b: &[String]) -> (Vec<String>, Vec<String>) {
    let mut only_a: Vec<String> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
    let mut only_b: Vec<String> = b.iter().filter(|x| !a.contains(x)).cloned().collect();
    only_a.dedup();
    only_b.dedup();
    (only_a, only_b)
}

fn check_cosine(similarity: f32, threshold: f32) -> Option<String> {
    // Written so that NaN refuses too.
    if similarity >= threshold {
        None
    } else {
        Some(format!(
            "cosine: {similarity:.3} is below the threshold {threshold:.3}"
        ))
    }
}

fn check_negation(a: &PromptFacts, b: &PromptFacts) -> Option<String> {
    if a.negations.len() == b.negations.len() {
        return None;
    }
    let (only_a, only_b) = multiset_diff(&a.negations, &b.negations);
    describe(Rule::Negation, &only_a, &only_b).map(|reason| {
        format!(
            "{reason} ({} negation(s) in the cached prompt, {} in the new one)",
            a.negations.len(),
            b.negations.len()
        )
    })
}

fn contains_seq(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn literal_in(literal: &Literal, other: &PromptFacts) -> bool {
    let same = |m: &Literal| {
        if literal.backtick && m.backtick {
            m.text == literal.text
        } else {
            m.text.to_lowercase() == literal.text.to_lowercase()
        }
    };
    if other.literals.iter().any(same) {
        return true;
    }
    // The same code between backticks in another case is other code (`String` / `string`).
    let recased = literal.backtick
        && other
            .literals
            .iter()
            .any(|m| m.backtick && m.lows == literal.lows);
    !recased && contains_seq(&other.lows, &literal.lows)
}

fn code_in(raw: &str, backtick: bool, other: &PromptFacts) -> bool {
    other.code.iter().any(|(r, other_backtick)| {
        // Between backticks on both sides, case is meaningful (`String` is not `string`).
        if backtick && *other_backtick {
            r == raw
        } else {
            r.to_lowercase() == raw.to_lowercase()
        }
    })
}

fn check_code(a: &PromptFacts, b: &PromptFacts) -> Option<String> {
    let missing = |x: &PromptFacts, y: &PromptFacts| -> Vec<String> {
        let mut out: Vec<String> = x
            .literals
            .iter()
            .filter(|l| !literal_in(l, y))
            .map(|l| l.text.clone())
            .collect();
        for (raw, backtick) in &x.code {
            if !code_in(raw, *backtick, y) && !out.iter().any(|o| o.contains(raw.as_str())) {
                out.push(raw.clone());
            }
        }
        out
    };
    describe(Rule::Code, &missing(a, b), &missing(b, a))
}

fn check_languages(a: &PromptFacts, b: &PromptFacts) -> Option<String> {
    // A language the other prompt names in a form the scan did not take as a language
    // ("node" in lower case) is still named there.
    let missing = |x: &PromptFacts, y: &PromptFacts| {
        let mut out: Vec<String> = x
            .languages
            .iter()
            .filter(|l| !y.languages.contains(l) && !y.words.contains(*l))
            .cloned()
            .collect();
        out.dedup();
        out
    };
    describe(Rule::Language, &missing(a, b), &missing(b, a))
}

fn check_versions(a: &PromptFacts, b: &PromptFacts) -> Option<String> {
    // Only products with a version on both sides: "HTTP 404" next to "http status 404" is
    // left to the number rule, which sees the same 404 on both sides.
    let mut only_a = Vec::new();
    let mut only_b = Vec::new();
    for (product, _) in &a.versions {
        if !b.versions.iter().any(|(p, _)| p == product)
            || only_a
                .iter()
                .chain(&only_b)
                .any(|s: &String| s.starts_with(product.as_str()))
        {
            continue;
        }
        let of = |f: &PromptFacts| {
            f.versions
                .iter()
                .filter(|(p, _)| p == product)
                .map(|(p, v)| format!("{p} {v}"))
                .collect::<Vec<_>>()
        };
        let (xa, xb) = multiset_diff(&of(a), &of(b));
        only_a.extend(xa);
        only_b.extend(xb);
    }
    describe(Rule::Version, &only_a, &only_b)
}

fn check_time(a: &PromptFacts, b: &PromptFacts) -> Option<String> {
    let (only_a, only_b) = set_diff(&a.times, &b.times);
    describe(Rule::Time, &only_a, &only_b)
}

fn check_units(a: &PromptFacts, b: &PromptFacts) -> Option<String> {
    let names = |f: &PromptFacts| f.units.iter().map(|(u, _)| u.clone()).collect::<Vec<_>>();
    let (only_a, only_b) = multiset_diff(&names(a), &names(b));
    if let Some(reason) = describe(Rule::Unit, &only_a, &only_b) {
        return Some(reason);
    }
    for (unit, role) in &a.units {
        let same = b.units.iter().any(|(u, r)| u == unit && r == role);
        if !same {
            let other = b
                .units
                .iter()
                .find(|(u, _)| u == unit)
                .map_or("absent", |(_, r)| r.name());
            return Some(format!(
                "unit: '{unit}' is the {} in the cached prompt but the {other} in the new one",
                role.name()
            ));
        }
    }
    None
}

fn check_numbers(a: &PromptFacts, b: &PromptFacts) -> Option<String> {
    let values = |f: &PromptFacts| {
        f.numbers
            .iter()
            .map(|n| n.value.clone())
            .collect::<Vec<_>>()
    };
    let (va, vb) = (values(a), values(b));
    let (only_a, only_b) = multiset_diff(&va, &vb);
    // "in one cup" asks what "in a cup" asks: an unmatched 1 is fine against an article.
    let ones =
        |only: &[String], other: &PromptFacts| only.iter().all(|v| v == "1") && other.has_article;
    let explained =
        (only_a.is_empty() || ones(&only_a, b)) && (only_b.is_empty() || ones(&only_b, a));
    if !explained {
        return describe(Rule::Number, &only_a, &only_b);
    }
    if only_a.is_empty() && only_b.is_empty() && va != vb {
        // The same numbers in another order are fine only when each stays attached to its own
        // word ("3 apples and 5 pears" / "5 pears and 3 apples"), not in "subtract 15 from 40".
        let bindings = |f: &PromptFacts| {
            f.numbers
                .iter()
                .map(|n| format!("{} {}", n.value, n.bound.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
        };
        let all_bound = a
            .numbers
            .iter()
            .chain(&b.numbers)
            .all(|n| n.bound.is_some());
        let (ba, bb) = multiset_diff(&bindings(a), &bindings(b));
        if !(all_bound && ba.is_empty() && bb.is_empty()) {
            return Some(format!(
                "number: the same numbers in another order ({} vs {})",
                va.join(", "),
                vb.join(", ")
            ));
        }
    }
    let (oa, ob) = multiset_diff(&a.operators, &b.operators);
    describe(Rule::Number, &oa, &ob).map(|reason| reason.replacen("number:", "number: operator", 1))
}

fn check_entities(a: &PromptFacts, b: &PromptFacts) -> Option<String> {
    // Exact words only: "Austria" never matches "Australia", however close the spelling.
    let missing = |x: &PromptFacts, y: &PromptFacts| {
        let mut out: Vec<String> = x
            .entities
            .iter()
            .filter(|e| !y.words.contains(*e))
            .cloned()
            .collect();
        out.dedup();
        out
    };
    describe(Rule::Entity, &missing(a, b), &missing(b, a))
}

fn check_opposition(a: &PromptFacts, b: &PromptFacts) -> Option<String> {
    let mut groups: Vec<&'static str> = a.opps.iter().chain(&b.opps).map(|o| o.0).collect();
    groups.sort_unstable();
    groups.dedup();
    for group in groups {
        let ma: Vec<&(&str, u8, bool, String)> = a.opps.iter().filter(|o| o.0 == group).collect();
        let mb: Vec<&(&str, u8, bool, String)> = b.opps.iter().filter(|o| o.0 == group).collect();
        let classes = |m: &[&(&str, u8, bool, String)]| {
            let mut c: Vec<u8> = m.iter().map(|o| o.1).collect();
            c.dedup();
            c
        };
        let words =
            |m: &[&(&str, u8, bool, String)]| m.iter().map(|o| o.3.clone()).collect::<Vec<_>>();
        match (ma.is_empty(), mb.is_empty()) {
            (false, false) if classes(&ma) != classes(&mb) => {
                return Some(format!(
                    "opposition: {} vs {}",
                    quoted(&words(&ma)),
                    quoted(&words(&mb))
                ));
            }
            (false, true) if ma.iter().any(|o| o.2) => {
                return describe(Rule::Opposition, &words(&ma), &[]);
            }
            (true, false) if mb.iter().any(|o| o.2) => {
                return describe(Rule::Opposition, &[], &words(&mb));
            }
            _ => {}
        }
    }
    None
}

fn check_direction(a: &PromptFacts, b: &PromptFacts) -> Option<String> {
    let mut roles: Vec<&'static str> = a.roles.iter().chain(&b.roles).map(|r| r.0).collect();
    roles.sort_unstable();
    roles.dedup();
    for role in roles {
        let objects = |f: &PromptFacts| {
            f.roles
                .iter()
                .filter(|r| r.0 == role)
                .map(|r| r.1.clone())
                .collect::<Vec<_>>()
        };
        let (oa, ob) = (objects(a), objects(b));
        // Another object that the first prompt also contains: the two swapped places.
        let x = oa.iter().find(|x| !ob.contains(x) && b.words.contains(*x));
        let y = ob.iter().find(|y| !oa.contains(y) && a.words.contains(*y));
        if let (Some(x), Some(y)) = (x, y) {
            if x != y {
                return Some(format!(
                    "direction: '{role} {x}' in the cached prompt, '{role} {y}' in the new one"
                ));
            }
        }
    }
    // One object under opposite prepositions: "to Paris" / "from Paris".
    for (r1, r2) in [
        ("from", "to"),
        ("to", "from"),
        ("before", "after"),
        ("after", "before"),
    ] {
        for (role, key) in &a.roles {
            if *role == r1
                && b.roles.iter().any(|(r, k)| *r == r2 && k == key)
                && !b.roles.iter().any(|(r, k)| *r == r1 && k == key)
            {
                return Some(format!(
                    "direction: '{r1} {key}' in the cached prompt, '{r2} {key}' in the new one"
                ));
            }
        }
    }
    None
}

/// True when `perm` (a permutation of 0..n) is the identity with one block moved elsewhere:
/// a clause moved to the front ("In Python, how do I ...") or two neighbours swapped.
fn single_block_move(perm: &[usize]) -> bool {
    // Maximal runs of consecutive values, then the rank of each run by value.
    let mut run_starts: Vec<usize> = Vec::new();
    for (i, &v) in perm.iter().enumerate() {
        if i == 0 || v != perm[i - 1] + 1 {
            run_starts.push(v);
        }
    }
    if run_starts.len() <= 2 {
        return true;
    }
    // One moved block leaves the runs in value order except for one of them; more than four
    // runs cannot come from one move.
    if run_starts.len() > 4 {
        return false;
    }
    (0..run_starts.len()).any(|skip| {
        let rest: Vec<usize> = run_starts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, r)| *r)
            .collect();
        rest.windows(2).all(|w| w[0] < w[1])
    })
}

fn check_order(a: &PromptFacts, b: &PromptFacts) -> Option<String> {
    // Words that occur once in each prompt: repeated words have no single position.
    fn counts(items: &[String]) -> HashMap<&str, usize> {
        let mut m: HashMap<&str, usize> =
            HashMap::with_capacity_and_hasher(items.len(), Default::default());
        for i in items {
            *m.entry(i.as_str()).or_insert(0) += 1;
        }
        m
    }
    let (ca, cb) = (counts(&a.items), counts(&b.items));
    let once = |k: &str| ca.get(k) == Some(&1) && cb.get(k) == Some(&1);
    let sa: Vec<&str> = a
        .items
        .iter()
        .map(String::as_str)
        .filter(|k| once(k))
        .collect();
    let sb: Vec<&str> = b
        .items
        .iter()
        .map(String::as_str)
        .filter(|k| once(k))
        .collect();
    if sa.len() < 3 {
        return None;
    }
    let position: HashMap<&str, usize> = sa.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let perm: Vec<usize> = sb.iter().filter_map(|k| position.get(k).copied()).collect();
    if single_block_move(&perm) {
        return None;
    }
    let show = |s: &[&str]| s.iter().take(6).copied().collect::<Vec<_>>().join(" ");
    Some(format!("order: '{}' vs '{}'", show(&sa), show(&sb)))
}

/// A likely keyboard slip: one letter dropped, doubled or added, or two neighbours swapped,
/// never at the first letter. Substituted letters and changed first letters are left out on
/// purpose: they are how one real word becomes another ("capital"/"capitol",
/// "molarity"/"molality", "ethanol"/"methanol"), while slips rarely touch the first letter.
fn one_edit_apart(x: &str, y: &str) -> bool {
    let a: Vec<char> = x.chars().collect();
    let b: Vec<char> = y.chars().collect();
    if a == b || a.first() != b.first() {
        return false;
    }
    let (la, lb) = (a.len(), b.len());
    if la == lb {
        let diffs: Vec<usize> = (0..la).filter(|&i| a[i] != b[i]).collect();
        return match diffs.as_slice() {
            [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
            _ => false,
        };
    }
    let (short, long) = if la < lb { (&a, &b) } else { (&b, &a) };
    if long.len() - short.len() != 1 {
        return false;
    }
    let first_diff = (0..short.len())
        .find(|&i| short[i] != long[i])
        .unwrap_or(short.len());
    short[first_diff..] == long[first_diff + 1..]
}

fn check_alignment(
    a: &PromptFacts,
    b: &PromptFacts,
    tolerance: usize,
    typo_min_len: usize,
) -> Option<String> {
    let lex = lexicon();
    fn unexplained<'x>(x: &'x PromptFacts, y: &PromptFacts) -> Vec<&'x Content> {
        let mut out: Vec<&Content> = Vec::new();
        for c in &x.content {
            let explained = y.words.contains(&c.canon)
                || y.words.contains(&c.low)
                || c.joined.iter().any(|j| y.words.contains(j));
            if !explained && !out.iter().any(|o| o.canon == c.canon) {
                out.push(c);
            }
        }
        out
    }
    let (mut ua, mut ub) = (unexplained(a, b), unexplained(b, a));
    if typo_min_len > 0 {
        let typo_ok =
            |w: &str| w.chars().count() >= typo_min_len && !lex.opposition.contains_key(&stem(w));
        let mut i = 0;
        while i < ua.len() {
            let found = ub.iter().position(|c| {
                typo_ok(&ua[i].low) && typo_ok(&c.low) && one_edit_apart(&ua[i].low, &c.low)
            });
            match found {
                Some(j) => {
                    ua.remove(i);
                    ub.remove(j);
                }
                None => i += 1,
            }
        }
    }
    let words = |v: &[&Content]| v.iter().map(|c| c.low.clone()).collect::<Vec<_>>();
    if !ua.is_empty() && !ub.is_empty() {
        // A word replaced by another is the signature of a near miss ("list" / "tuple").
        return Some(format!(
            "alignment: {} replaced by {}",
            quoted(&words(&ua)),
            quoted(&words(&ub))
        ));
    }
    if ua.len() > tolerance || ub.len() > tolerance {
        return describe(Rule::Alignment, &words(&ua), &words(&ub));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rule: Rule, a: &str, b: &str) -> Option<String> {
        Verifier::default().check(
            rule,
            &PromptFacts::analyze(a),
            &PromptFacts::analyze(b),
            1.0,
        )
    }

    #[track_caller]
    fn refuses(rule: Rule, a: &str, b: &str) {
        match run(rule, a, b) {
            Some(reason) => assert!(reason.starts_with(rule.name()), "{reason}"),
            None => panic!("{rule:?} should refuse: {a:?} / {b:?}"),
        }
    }

    #[track_caller]
    fn accepts(rule: Rule, a: &str, b: &str) {
        if let Some(reason) = run(rule, a, b) {
            panic!("{rule:?} should accept {a:?} / {b:?}: {reason}");
        }
    }

    #[test]
    fn cosine_rule_compares_with_the_threshold() {
        assert!(check_cosine(0.79, 0.8).is_some());
        assert!(check_cosine(0.8, 0.8).is_none());
        assert!(check_cosine(f32::NAN, 0.8).is_some());
        let v = Verifier::new(VerifierConfig {
            threshold: 0.9,
            ..VerifierConfig::default()
        });
        let verdict = v.verify("What is 2+2?", "What is 2+2?", 0.85);
        assert!(!verdict.serve);
        assert!(verdict.reason.is_some_and(|r| r.starts_with("cosine")));
    }

    #[test]
    fn negation_rule() {
        refuses(
            Rule::Negation,
            "Can I get a refund within 30 days?",
            "Can't I get a refund within 30 days?",
        );
        refuses(
            Rule::Negation,
            "How do I make pancakes with eggs?",
            "How do I make pancakes without eggs?",
        );
        refuses(
            Rule::Negation,
            "Is the deposit refundable?",
            "Is the deposit non-refundable?",
        );
        refuses(
            Rule::Negation,
            "Why is my phone charging?",
            "Why is my phone not charging?",
        );
        refuses(
            Rule::Negation,
            "Which fruits contain vitamin C?",
            "Which fruits contain no vitamin C?",
        );
        accepts(
            Rule::Negation,
            "Why doesn't my car start?",
            "Why does my car not start?",
        );
        accepts(Rule::Negation, "I cannot log in", "I can't log in");
        accepts(
            Rule::Negation,
            "How do I make pancakes without eggs?",
            "Without eggs, how do I make pancakes?",
        );
    }

    #[test]
    fn code_rule() {
        refuses(
            Rule::Code,
            "What does `os.path.join` do?",
            "What does `os.path.split` do?",
        );
        refuses(Rule::Code, "Why is user_id null?", "Why is user_name null?");
        refuses(
            Rule::Code,
            "How do I use useEffect in React?",
            "How do I use useState in React?",
        );
        refuses(
            Rule::Code,
            "What does the --force flag do?",
            "What does the --force-with-lease flag do?",
        );
        refuses(Rule::Code, "Is `String` a class?", "Is `string` a class?");
        refuses(
            Rule::Code,
            "Translate \"good morning\" into French",
            "Translate \"good night\" into French",
        );
        refuses(
            Rule::Code,
            "What's the difference between `==` and `===`?",
            "What's the difference between `==` and `=`?",
        );
        accepts(
            Rule::Code,
            "What does `os.path.join` do?",
            "What is the purpose of os.path.join?",
        );
        accepts(
            Rule::Code,
            "Difference between `git fetch` and `git pull`",
            "difference between git fetch and git pull",
        );
        accepts(
            Rule::Code,
            "Translate \"good morning\" into French",
            "How do you say 'good morning' in French?",
        );
        accepts(
            Rule::Code,
            "What does getUserById return?",
            "What does `getUserById` return?",
        );
    }

    #[test]
    fn language_rule() {
        refuses(
            Rule::Language,
            "Translate this into French",
            "Translate this into German",
        );
        refuses(
            Rule::Language,
            "How do I reverse a string in Python?",
            "How do I reverse a string in Rust?",
        );
        refuses(
            Rule::Language,
            "Lambda syntax in C++",
            "Lambda syntax in C#",
        );
        refuses(
            Rule::Language,
            "how do you say goodbye in spanish",
            "how do you say goodbye in french",
        );
        accepts(
            Rule::Language,
            "How do I remove duplicates in JavaScript?",
            "js remove duplicates",
        );
        accepts(
            Rule::Language,
            "How do I check which version of Node is installed?",
            "check node version",
        );
        accepts(
            Rule::Language,
            "Should I go there?",
            "Should I go there now?",
        );
    }

    #[test]
    fn version_rule() {
        refuses(
            Rule::Version,
            "How do I install Python 3.8?",
            "How do I install Python 3.12?",
        );
        refuses(
            Rule::Version,
            "Upgrade from Windows 10 to Windows 11",
            "Upgrade from Windows 7 to Windows 11",
        );
        refuses(
            Rule::Version,
            "What's new in C++20?",
            "What's new in C++23?",
        );
        refuses(Rule::Version, "Is TLS 1.2 secure?", "Is TLS 1.0 secure?");
        accepts(
            Rule::Version,
            "What's new in Java 17?",
            "java 17 new features",
        );
        // A number next to a product on one side only is the number rule's business.
        accepts(
            Rule::Version,
            "What does HTTP status 404 mean?",
            "http 404 meaning",
        );
    }

    #[test]
    fn time_rule() {
        refuses(
            Rule::Time,
            "What is the weather in Paris today?",
            "What is the weather in Paris tomorrow?",
        );
        refuses(
            Rule::Time,
            "Top news stories last week",
            "Top news stories this week",
        );
        refuses(
            Rule::Time,
            "Who won the World Cup in 2014?",
            "Who won the World Cup in 2018?",
        );
        refuses(
            Rule::Time,
            "What holidays are in December?",
            "What holidays are in November?",
        );
        refuses(
            Rule::Time,
            "Best movies of the 1990s",
            "Best movies of the 1980s",
        );
        refuses(
            Rule::Time,
            "Microsoft's Q3 earnings",
            "Microsoft's Q4 earnings",
        );
        refuses(
            Rule::Time,
            "Life in the 18th century",
            "Life in the 19th century",
        );
        refuses(
            Rule::Time,
            "Who is the current CEO?",
            "Who was the CEO in 2010?",
        );
        accepts(
            Rule::Time,
            "What is the weather in Paris tomorrow?",
            "Tomorrow's weather in Paris?",
        );
        // "may" the verb and "fall" the verb are not time frames.
        accepts(Rule::Time, "May I ask a question?", "Can I ask a question?");
        accepts(
            Rule::Time,
            "When did the Berlin Wall fall?",
            "When did the Berlin Wall come down?",
        );
        refuses(
            Rule::Time,
            "Visit Japan in the fall",
            "Visit Japan in spring",
        );
    }

    #[test]
    fn unit_rule() {
        refuses(Rule::Unit, "Convert 5 miles to km", "Convert 5 km to miles");
        refuses(
            Rule::Unit,
            "What is 100 Fahrenheit in Celsius?",
            "What is 100 Celsius in Fahrenheit?",
        );
        refuses(
            Rule::Unit,
            "How many grams are in 2 cups of flour?",
            "How many grams are in 2 tablespoons of flour?",
        );
        refuses(
            Rule::Unit,
            "How many ounces in a pound?",
            "How many pounds in an ounce?",
        );
        refuses(Rule::Unit, "Bake at 180 C", "Bake at 180 F");
        refuses(
            Rule::Unit,
            "What is 1 nautical mile in km?",
            "What is 1 mile in km?",
        );
        refuses(
            Rule::Unit,
            "What's 50 euros in British pounds?",
            "What's 50 British pounds in euros?",
        );
        refuses(
            Rule::Unit,
            "Rent is 1500 per month, how much per year?",
            "Rent is 1500 per year, how much per month?",
        );
        accepts(
            Rule::Unit,
            "Convert 5 miles to km",
            "How many kilometers is 5 miles?",
        );
        accepts(
            Rule::Unit,
            "What is 100 Fahrenheit in Celsius?",
            "Convert 100 °F to °C",
        );
        accepts(
            Rule::Unit,
            "How much is a $45 bill?",
            "How much is a 45 dollar bill?",
        );
        // Without a number there is no conversion: the unit is just the thing asked about.
        accepts(
            Rule::Unit,
            "How many calories are in a banana?",
            "banana calories",
        );
    }

    #[test]
    fn number_rule() {
        refuses(Rule::Number, "What is 15% of 80?", "What is 15% of 60?");
        refuses(
            Rule::Number,
            "What is one third of 90?",
            "What is one fifth of 90?",
        );
        refuses(Rule::Number, "Subtract 15 from 40", "Subtract 40 from 15");
        refuses(Rule::Number, "What is 25 plus 17?", "What is 25 minus 17?");
        refuses(Rule::Number, "What is 12 squared?", "What is 12 cubed?");
        refuses(
            Rule::Number,
            "Price of a dozen eggs",
            "Price of half a dozen eggs",
        );
        refuses(
            Rule::Number,
            "Find the 10th Fibonacci number",
            "Find the 20th Fibonacci number",
        );
        refuses(
            Rule::Number,
            "Is 0.5 mg a high dose?",
            "Is 5 mg a high dose?",
        );
        accepts(
            Rule::Number,
            "What happens if I pay 2 days late?",
            "What happens if I pay two days late?",
        );
        accepts(
            Rule::Number,
            "Add 3 apples and 5 pears",
            "Add 5 pears and 3 apples",
        );
        accepts(
            Rule::Number,
            "How many ounces in one cup?",
            "How many ounces in a cup?",
        );
        accepts(Rule::Number, "Invest $1,000", "Invest 1000 dollars");
        accepts(Rule::Number, "twenty five people", "25 people");
        accepts(
            Rule::Number,
            "Find the 10th Fibonacci number",
            "Find the tenth Fibonacci number",
        );
    }

    #[test]
    fn entity_rule() {
        refuses(
            Rule::Entity,
            "What is the capital of Australia?",
            "What is the capital of Austria?",
        );
        refuses(
            Rule::Entity,
            "Is it safe to drink tap water in Mexico City?",
            "Is it safe to drink tap water in Mexico?",
        );
        refuses(Rule::Entity, "capital of sweden", "capital of switzerland");
        refuses(
            Rule::Entity,
            "What is the capital of Niger?",
            "What is the capital of Nigeria?",
        );
        refuses(
            Rule::Entity,
            "Explain IPv4 addressing",
            "Explain IPv6 addressing",
        );
        // Edit distance never makes two names equal: a misspelled name is another name.
        refuses(
            Rule::Entity,
            "What time zone is Chicago in?",
            "What time zone is Chicgo in?",
        );
        accepts(
            Rule::Entity,
            "capital of australia",
            "What is the capital of Australia?",
        );
        accepts(
            Rule::Entity,
            "Best pizza in New York",
            "best pizza in new york",
        );
        accepts(
            Rule::Entity,
            "Paris weather tomorrow",
            "What will the weather be in Paris tomorrow?",
        );
        // A turkey in the oven is not the country.
        accepts(
            Rule::Entity,
            "How long do I roast a turkey?",
            "How long should I roast a turkey?",
        );
    }

    #[test]
    fn opposition_rule() {
        refuses(
            Rule::Opposition,
            "Is it safe to take aspirin before surgery?",
            "Is it safe to take aspirin after surgery?",
        );
        refuses(
            Rule::Opposition,
            "Can I get a refund within 30 days?",
            "Can I get a refund after 30 days?",
        );
        refuses(
            Rule::Opposition,
            "How do I increase my credit score?",
            "How do I decrease my credit score?",
        );
        refuses(
            Rule::Opposition,
            "How do I enable 2FA?",
            "How do I disable 2FA?",
        );
        refuses(
            Rule::Opposition,
            "Sort a list in ascending order",
            "Sort a list in descending order",
        );
        refuses(
            Rule::Opposition,
            "Is it safe to eat raw dough?",
            "Is it unsafe to eat raw dough?",
        );
        refuses(
            Rule::Opposition,
            "Why do prices rise when rates fall?",
            "Why do prices fall when rates rise?",
        );
        // A strong word alone on one side.
        refuses(
            Rule::Opposition,
            "How do I encrypt a file?",
            "How do I decrypt a file?",
        );
        accepts(
            Rule::Opposition,
            "How do I raise my credit score?",
            "How can I increase my credit score?",
        );
        accepts(
            Rule::Opposition,
            "Is it safe to drink tap water?",
            "Can I drink tap water?",
        );
    }

    #[test]
    fn direction_rule() {
        refuses(
            Rule::Direction,
            "Flights from London to Paris",
            "Flights from Paris to London",
        );
        refuses(
            Rule::Direction,
            "Is the Nile longer than the Amazon?",
            "Is the Amazon longer than the Nile?",
        );
        refuses(
            Rule::Direction,
            "Convert a JSON string to a Python dict",
            "Convert a Python dict to a JSON string",
        );
        refuses(
            Rule::Direction,
            "Replace tabs with spaces",
            "Replace spaces with tabs",
        );
        refuses(Rule::Direction, "Flights to Paris", "Flights from Paris");
        accepts(
            Rule::Direction,
            "Flights from London to Paris",
            "Flights to Paris from London",
        );
        accepts(
            Rule::Direction,
            "Is it cheaper to buy or lease a car?",
            "Is it cheaper to lease or buy a car?",
        );
        accepts(
            Rule::Direction,
            "How long is the flight from London to New York?",
            "london to new york flight time",
        );
    }

    #[test]
    fn order_rule() {
        refuses(
            Rule::Order,
            "Why do cats chase mice?",
            "Why do mice chase cats?",
        );
        refuses(
            Rule::Order,
            "In chess, can a bishop capture a knight?",
            "In chess, can a knight capture a bishop?",
        );
        refuses(
            Rule::Order,
            "Does Bob owe Alice money?",
            "Does Alice owe Bob money?",
        );
        accepts(
            Rule::Order,
            "What is the boiling point of water at sea level?",
            "At sea level, what is the boiling point of water?",
        );
        accepts(
            Rule::Order,
            "How do I calculate my BMI if I know my height and weight?",
            "If I know my height and weight, how do I calculate my BMI?",
        );
        accepts(
            Rule::Order,
            "Which is healthier, brown rice or white rice?",
            "Which is healthier, white rice or brown rice?",
        );
    }

    #[test]
    fn alignment_rule() {
        refuses(
            Rule::Alignment,
            "How do I sort a list in Python?",
            "How do I sort a tuple in Python?",
        );
        refuses(
            Rule::Alignment,
            "How long should I boil an egg?",
            "How long should I boil a potato?",
        );
        refuses(
            Rule::Alignment,
            "What is the capital of Texas?",
            "What is the capitol of Texas?",
        );
        refuses(
            Rule::Alignment,
            "How do I cook rice?",
            "How do I cook rice in a pressure cooker at altitude?",
        );
        accepts(
            Rule::Alignment,
            "How do I reverse a list in Python?",
            "hey quick q, how would i go about reversing a list in python",
        );
        accepts(
            Rule::Alignment,
            "Where can I purchase stamps?",
            "Where can I buy stamps?",
        );
        accepts(
            Rule::Alignment,
            "How do I make a sourdough starter?",
            "How do I make a sour dough starter?",
        );
        accepts(
            Rule::Alignment,
            "How do I reset my password?",
            "How do I reset my pasword?",
        );
        let no_typos = Verifier::new(VerifierConfig {
            typo_min_len: 0,
            ..VerifierConfig::default()
        });
        let verdict = no_typos.verify(
            "How do I reset my password?",
            "How do I reset my pasword?",
            1.0,
        );
        assert!(verdict.reason.is_some_and(|r| r.starts_with("alignment")));
        // With the default tolerance (0) an added qualifier is refused; a tolerance of 1 lets one
        // through but never a substitution.
        assert!(
            !Verifier::default()
                .verify("How do I cook rice?", "How do I cook brown rice?", 1.0)
                .serve
        );
        let lenient = Verifier::new(VerifierConfig {
            alignment_tolerance: 1,
            ..VerifierConfig::default()
        });
        assert!(
            lenient
                .verify("How do I cook rice?", "How do I cook brown rice?", 1.0)
                .serve
        );
        assert!(
            !lenient
                .verify("How do I sort a list?", "How do I sort a tuple?", 1.0)
                .serve
        );
    }

    #[test]
    fn verdicts_carry_the_similarity_and_the_first_reason() {
        let v = Verifier::default();
        let served = v.verify(
            "How do I reset my password?",
            "How can I reset my password?",
            0.95,
        );
        assert_eq!(
            served,
            Verdict {
                serve: true,
                similarity: 0.95,
                reason: None
            }
        );
        let refused = v.verify("Convert 5 miles to km", "Convert 5 km to miles", 0.97);
        assert!(!refused.serve);
        assert_eq!(refused.similarity, 0.97);
        assert!(refused.reason.is_some_and(|r| r.starts_with("unit")));
        let all = v.rejections(
            &PromptFacts::analyze("Flights from London to Paris"),
            &PromptFacts::analyze("Flights from Paris to London"),
            0.5,
        );
        let rules: Vec<Rule> = all.iter().map(|r| r.rule).collect();
        assert!(
            rules.contains(&Rule::Cosine) && rules.contains(&Rule::Direction),
            "{rules:?}"
        );
        // Identical text is served at any similarity above the threshold.
        assert!(v.verify("Same text?", "same   text?", 0.99).serve);
        // Empty prompts do not panic.
        let _ = v.verify("", "", 1.0);
        let _ = v.verify("`", "\"", 1.0);
    }

    #[test]
    fn tokens_and_numbers() {
        let lows = |s: &str| tokenize(s).0.into_iter().map(|t| t.low).collect::<Vec<_>>();
        assert_eq!(lows("Don't"), ["do", "not"]);
        assert_eq!(lows("Apple's"), ["apple"]);
        assert_eq!(lows("$1,000"), ["1000", "usd"]);
        assert_eq!(lows("C++20"), ["c++", "20"]);
        assert_eq!(lows("python3"), ["python", "3"]);
        assert_eq!(lows("401(k)"), ["401k"]);
        assert_eq!(lows("5km"), ["5", "km"]);
        assert_eq!(lows("one hundred and twenty"), ["120"]);
        assert_eq!(lows("two sixes"), ["2", "6"]);
        assert_eq!(lows("the 1920s"), ["the", "1920s"]);
        assert_eq!(lows("km/h"), ["km/h"]);
        let kinds = |s: &str| {
            tokenize(s)
                .0
                .into_iter()
                .map(|t| t.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds("os.path.join user_id useEffect --force"),
            [Kind::Code; 4]
        );
        assert_eq!(kinds("e.g. U.S."), [Kind::Word, Kind::Word]);
        let (_, literals) = tokenize("Translate 'I love you' and \"good night\" but not Apple's");
        let texts: Vec<&str> = literals.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["I love you", "good night"]);
    }

    /// Whatever the input, analysis and verification return (no panic on slicing, case
    /// mapping that changes lengths, unbalanced quotes or empty tokens).
    #[test]
    fn never_panics_on_odd_input() {
        let fixed = [
            "",
            " ",
            "`",
            "```",
            "``` x",
            "\"",
            "'",
            "''",
            "'a",
            "a'",
            "İ'm",
            "İstanbul's",
            "ǅenan n't",
            "CAN'T",
            "Straße’s",
            "can't'",
            "$",
            "$.",
            "-",
            "--",
            "°",
            "°C",
            "1,2,3",
            "5.",
            ".5",
            "...",
            "1/0",
            "10-",
            "-5km",
            "$5m",
            "1920s",
            "C++",
            "c#20",
            ".NET",
            "Node.js",
            "x.js",
            "e.g.",
            "a.b.c",
            "(",
            ")",
            "[]",
            "{}",
            "ἀνθρώπους",
            "日本語 テスト",
            "🙂 emoji 🙂",
            "\u{0}",
            "how many in",
            "how many",
            "per",
            "last",
            "right",
            "to from than of",
        ];
        let v = Verifier::default();
        for a in fixed {
            for b in fixed {
                let _ = v.verify(a, b, 0.99);
            }
        }
        // A small deterministic generator over awkward characters.
        let pool: Vec<char> = "aZİßǅ’'`\"$€°.-,/:()[]{} 0123456789_#+ néçñ日🙂\t\n"
            .chars()
            .collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let len = (next() % 24) as usize;
            let a: String = (0..len)
                .map(|_| pool[(next() % pool.len() as u64) as usize])
                .collect();
            let b: String = a.chars().rev().collect();
            let _ = v.verify(&a, &b, 0.9);
        }
    }

    #[test]
    fn block_moves() {
        assert!(single_block_move(&[0, 1, 2, 3]));
        assert!(single_block_move(&[2, 3, 0, 1]));
        assert!(single_block_move(&[0, 2, 1, 3]));
        assert!(single_block_move(&[3, 0, 1, 2]));
        assert!(!single_block_move(&[2, 1, 0]));
        assert!(!single_block_move(&[0, 3, 2, 1]));
    }

    #[test]
    fn edits() {
        assert!(one_edit_apart("password", "pasword"));
        assert!(one_edit_apart("capital", "captial"));
        assert!(one_edit_apart("sleep", "sleeep"));
        assert!(!one_edit_apart("capital", "capitol"));
        assert!(!one_edit_apart("ethanol", "methanol"));
        assert!(!one_edit_apart("capital", "capital"));
        assert!(!one_edit_apart("increase", "decrease"));
        assert!(!one_edit_apart("austria", "australia"));
    }

    #[test]
    fn stems() {
        assert_eq!(stem("reversing"), stem("reverse"));
        assert_eq!(stem("calories"), stem("calorie"));
        assert_eq!(stem("dictionaries"), stem("dictionary"));
        assert_eq!(stem("using"), stem("use"));
        assert_eq!(stem("stopped"), stem("stop"));
        assert_ne!(stem("grille"), stem("grill"));
        assert_eq!(canon("purchase"), canon("buy"));
    }
}
