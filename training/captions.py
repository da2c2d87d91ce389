"""Captions for the cartoon faces, written from their attribute labels in varied wording, to train
the embedded CLIP (training/train_clip.py) and to ask it zero-shot questions.

    caption(labels_of_one_face, rng)  ->  "a cartoon face with pink curly hair, wearing sunglasses and smiling"

Every class of every attribute has several wordings, as people say it (synonyms, colloquial
words, descriptions); a caption is a subject ("a cartoon face", "an avatar", ...) and the
phrases of a random subset of the face's visible attributes, in random order, sometimes with a
negation of a named class the face lacks ("not smiling", "without a hat"). Rare and telling
attributes (glasses, beards, unusual mouths and eyes) are mentioned more often than common ones.

HELD_OUT keeps wordings of the six named classes aside, never in a caption: some are the
captions' words in a new frame ("in shades"), the others bring a word no caption uses ("sunnies",
"hatless"); `held_out_wordings()` sorts them so, to measure how the CLIP takes what a visitor
types in their own words.
"""
from __future__ import annotations

import re

import numpy as np

from metrics.coverage import NAMED

from .avatars import ATTRIBUTES, attribute_classes

SUBJECTS = ["a cartoon face", "an avatar", "a cartoon person", "a drawing of a person", "a face", "a cartoon avatar",
            "a cartoon portrait", "an illustrated face", "a cartoon character", "a person", "someone", "a profile picture"]

COLOURS = {  # hat and clothes colours
    "BLACK": ["black"], "BLUE_01": ["blue"], "BLUE_02": ["blue"], "BLUE_03": ["dark blue", "navy"],
    "GRAY_01": ["grey", "gray"], "GRAY_02": ["dark grey"], "HEATHER": ["heather grey"], "PASTEL_BLUE": ["light blue"],
    "PASTEL_GREEN": ["light green", "mint green"], "PASTEL_ORANGE": ["orange", "peach"], "PASTEL_RED": ["salmon", "coral"],
    "PASTEL_YELLOW": ["yellow"], "PINK": ["pink"], "RED": ["red"], "WHITE": ["white"],
}
# Other ways people say what COLOURS says (captions only; COLOURS also gives the zero-shot prompts).
MORE_COLOURS = {"GRAY_02": ["charcoal"], "PASTEL_BLUE": ["sky blue"], "PASTEL_YELLOW": ["pale yellow"]}
HAIR_COLOURS = {
    "BLACK": ["black"], "AUBURN": ["auburn"], "BLONDE": ["blonde"], "BLONDE_GOLDEN": ["golden blonde", "blonde"],
    "BROWN": ["brown"], "BROWN_DARK": ["dark brown"], "PASTEL_PINK": ["pink", "pastel pink"],
    "PLATINUM": ["platinum blonde", "white blonde"], "RED": ["red", "ginger"], "SILVER_GRAY": ["grey", "silver"],
}
# Other ways people say what HAIR_COLOURS says (captions only; HAIR_COLOURS also gives the zero-shot prompts).
MORE_HAIR_COLOURS = {"BLACK": ["jet black"],
 "AUBURN": ["reddish brown"],
 "BLONDE": ["blond", "fair"],
 "BLONDE_GOLDEN": ["golden"],
 "BROWN_DARK": ["brunette"],
 "PASTEL_PINK": ["bubblegum pink", "light pink"],
 "PLATINUM": ["platinum"],
 "SILVER_GRAY": ["gray"]}
HAIR_STYLES = {  # top_type -> words before "hair"
    "LONG_HAIR_BIG_HAIR": ["big long", "voluminous"], "LONG_HAIR_BOB": ["bob-cut", "short bob"],
    "LONG_HAIR_BUN": ["bun", "tied-up"], "LONG_HAIR_CURLY": ["long curly", "curly"], "LONG_HAIR_CURVY": ["long wavy"],
    "LONG_HAIR_DREADS": ["long dreadlocked", "dreadlocked"], "LONG_HAIR_FRIDA": ["braided"],
    "LONG_HAIR_FRO": ["afro", "big curly"], "LONG_HAIR_FRO_BAND": ["afro", "banded afro"],
    "LONG_HAIR_NOT_TOO_LONG": ["shoulder-length", "medium-length"], "LONG_HAIR_MIA_WALLACE": ["bob", "fringed bob"],
    "LONG_HAIR_SHAVED_SIDES": ["long", "half-shaved"], "LONG_HAIR_STRAIGHT": ["long straight", "long"],
    "LONG_HAIR_STRAIGHT2": ["long straight", "long"], "LONG_HAIR_STRAIGHT_STRAND": ["long straight", "long"],
    "SHORT_HAIR_DREADS_01": ["short dreadlocked"], "SHORT_HAIR_DREADS_02": ["short dreadlocked", "twisted"],
    "SHORT_HAIR_FRIZZLE": ["short frizzy", "frizzy"], "SHORT_HAIR_SHAGGY_MULLET": ["shaggy", "mullet"],
    "SHORT_HAIR_SHORT_CURLY": ["short curly", "curly"], "SHORT_HAIR_SHORT_FLAT": ["short flat", "short"],
    "SHORT_HAIR_SHORT_ROUND": ["short round", "short"], "SHORT_HAIR_SHORT_WAVED": ["short wavy", "wavy"],
    "SHORT_HAIR_SIDES": ["thinning", "side-only"], "SHORT_HAIR_THE_CAESAR": ["cropped", "very short"],
    "SHORT_HAIR_THE_CAESAR_SIDE_PART": ["side-parted", "short side-parted"],
}
# Ways to say a hair colour {c} without a style; "{c}-haired" is also said.
HAIR_COLOUR_TEMPLATES = ["with {c} hair", "{c}-haired", "with hair dyed {c}", "with {c} hair colour"]


def hair_colour_wordings(c: str) -> list[str]:
    """The ways HAIR_COLOUR_TEMPLATES say the hair colour word c: "pink-haired", but not
    "pastel pink-haired"."""
    return [t.format(c=c) for t in HAIR_COLOUR_TEMPLATES if not (t.startswith("{c}-") and " " in c)]

OTHER_TOPS = {  # top_type without hair; {c} is the hat colour
    "NO_HAIR": ["bald", "with a shaved head"], "EYE_PATCH": ["wearing an eye patch", "with an eye patch"],
    "HAT": ["wearing a hat", "wearing a {c} hat", "in a hat"], "HIJAB": ["wearing a {c} hijab", "wearing a headscarf"],
    "TURBAN": ["wearing a {c} turban", "wearing a turban"],
    "WINTER_HAT1": ["wearing a {c} winter hat", "wearing a hat", "in a beanie"],
    "WINTER_HAT2": ["wearing a {c} winter hat", "wearing a hat", "in a bobble hat"],
    "WINTER_HAT3": ["wearing a {c} winter hat", "wearing a hat", "in a woolly hat"],
    "WINTER_HAT4": ["wearing a {c} winter hat", "wearing a hat", "in a hat with ear flaps"],
}
# Other ways people say what OTHER_TOPS says (captions only; OTHER_TOPS also gives the zero-shot prompts).
MORE_TOPS = {"NO_HAIR": ["bald-headed", "with no hair", "hairless"],
 "EYE_PATCH": ["like a pirate with an eye patch"],
 "HAT": ["with a hat on", "wearing a fedora", "in a black hat"],
 "HIJAB": ["in a hijab", "with a head covering"],
 "TURBAN": ["in a turban"],
 "WINTER_HAT1": ["wearing a knit cap", "with a hat on"],
 "WINTER_HAT2": ["wearing a beanie with a pompom"],
 "WINTER_HAT3": ["in a beanie"],
 "WINTER_HAT4": ["wearing a winter cap"]}
PHRASES = {
    "skin_color": {"BLACK": ["with black skin", "with very dark skin"], "TANNED": ["with tanned skin"],
                   "YELLOW": ["with yellow skin"], "PALE": ["with pale skin", "with very light skin"],
                   "LIGHT": ["with light skin", "with fair skin"], "BROWN": ["with brown skin"],
                   "DARK_BROWN": ["with dark brown skin", "with dark skin"]},
    "accessories_type": {"DEFAULT": ["without glasses"], "KURT": ["with big dark glasses", "wearing sunglasses"],
                         "PRESCRIPTION_01": ["with glasses", "wearing thin glasses"],
                         "PRESCRIPTION_02": ["with glasses", "wearing thick glasses"],
                         "ROUND": ["with round glasses", "wearing round glasses"],
                         "SUNGLASSES": ["with sunglasses", "wearing sunglasses"],
                         "WAYFARERS": ["with sunglasses", "wearing dark sunglasses", "with wayfarer sunglasses"]},
    "facial_hair_type": {"DEFAULT": ["clean-shaven", "with no beard"],
                         "BEARD_MEDIUM": ["with a beard", "with a {c} beard", "bearded"],
                         "BEARD_LIGHT": ["with a light beard", "with stubble", "with a short {c} beard"],
                         "BEARD_MAJESTIC": ["with a big beard", "with a long {c} beard", "with a majestic beard"],
                         "MOUSTACHE_FANCY": ["with a fancy moustache", "with a curled {c} moustache"],
                         "MOUSTACHE_MAGNUM": ["with a big moustache", "with a thick {c} moustache"]},
    "mouth_type": {"DEFAULT": ["with a calm mouth", "with a neutral expression"],
                   "CONCERNED": ["looking concerned", "looking worried"],
                   "DISBELIEF": ["in disbelief", "with an open mouth"], "EATING": ["eating", "chewing"],
                   "GRIMACE": ["grimacing", "showing gritted teeth"], "SAD": ["looking sad", "with a sad mouth"],
                   "SCREAM_OPEN": ["screaming", "shouting"], "SERIOUS": ["looking serious", "with a straight mouth"],
                   "SMILE": ["smiling", "with a big smile", "with a toothy smile"],
                   "TONGUE": ["sticking out the tongue", "with the tongue out"],
                   "TWINKLE": ["with a little smile", "smirking"], "VOMIT": ["vomiting", "feeling sick"]},
    "eye_type": {"DEFAULT": ["with open eyes", "with round eyes"], "CLOSE": ["with closed eyes", "with eyes shut"],
                 "CRY": ["crying", "in tears"], "DIZZY": ["with crossed-out eyes", "looking dizzy"],
                 "EYE_ROLL": ["rolling the eyes"], "HAPPY": ["with happy eyes", "with curved happy eyes"],
                 "HEARTS": ["with heart eyes", "in love"], "SIDE": ["looking to the side", "glancing sideways"],
                 "SQUINT": ["squinting"], "SURPRISED": ["with wide eyes", "looking surprised"],
                 "WINK": ["winking"], "WINK_WACKY": ["winking wildly", "with a crazy wink"]},
    "eyebrow_type": {"DEFAULT": ["with normal eyebrows"], "DEFAULT_NATURAL": ["with natural eyebrows"],
                     "ANGRY": ["with angry eyebrows", "looking angry"], "ANGRY_NATURAL": ["with angry eyebrows"],
                     "FLAT_NATURAL": ["with flat eyebrows"], "RAISED_EXCITED": ["with raised eyebrows"],
                     "RAISED_EXCITED_NATURAL": ["with raised eyebrows"], "SAD_CONCERNED": ["with sad eyebrows"],
                     "SAD_CONCERNED_NATURAL": ["with worried eyebrows"], "UNI_BROW_NATURAL": ["with a unibrow"],
                     "UP_DOWN": ["with one eyebrow raised"], "UP_DOWN_NATURAL": ["with one eyebrow raised"],
                     "FROWN_NATURAL": ["frowning"]},
    "clothe_type": {"BLAZER_SHIRT": ["in a blazer", "wearing a blazer and shirt"],
                    "BLAZER_SWEATER": ["in a blazer", "wearing a blazer over a sweater"],
                    "COLLAR_SWEATER": ["in a {c} collared sweater", "wearing a {c} sweater"],
                    "GRAPHIC_SHIRT": ["in a {c} graphic t-shirt", "wearing a printed {c} t-shirt"],
                    "HOODIE": ["in a {c} hoodie", "wearing a {c} hoodie"], "OVERALL": ["in {c} overalls"],
                    "SHIRT_CREW_NECK": ["in a {c} t-shirt", "wearing a {c} shirt"],
                    "SHIRT_SCOOP_NECK": ["in a {c} scoop-neck shirt", "wearing a {c} top"],
                    "SHIRT_V_NECK": ["in a {c} v-neck shirt", "wearing a {c} v-neck"]},
}
# Other ways people say what PHRASES says (captions only; PHRASES also gives the zero-shot prompts).
MORE_PHRASES = {"skin_color": {"BLACK": ["dark-skinned"],
                "TANNED": ["with a tan"],
                "YELLOW": ["yellow-skinned"],
                "PALE": ["pale"],
                "LIGHT": ["light-skinned"],
                "BROWN": ["brown-skinned"],
                "DARK_BROWN": ["dark-skinned"]},
 "accessories_type": {"DEFAULT": ["with no glasses", "not wearing glasses", "glasses-free"],
                      "KURT": ["with tinted glasses", "wearing big shades"],
                      "PRESCRIPTION_01": ["with specs", "wearing spectacles", "bespectacled"],
                      "PRESCRIPTION_02": ["with thick-rimmed glasses", "with nerdy glasses"],
                      "ROUND": ["with round specs", "with circular glasses"],
                      "SUNGLASSES": ["wearing shades", "with shades", "with dark glasses", "with sunglasses on"],
                      "WAYFARERS": ["wearing shades", "with cool shades"]},
 "facial_hair_type": {"DEFAULT": ["beardless", "without facial hair", "without a beard"],
                      "BEARD_MEDIUM": ["with a full beard", "with facial hair"],
                      "BEARD_LIGHT": ["stubbly", "unshaven"],
                      "BEARD_MAJESTIC": ["with a bushy beard", "with a huge beard"],
                      "MOUSTACHE_FANCY": ["with a handlebar mustache", "with a twirly moustache"],
                      "MOUSTACHE_MAGNUM": ["with a mustache", "mustachioed"]},
 "mouth_type": {"DEFAULT": ["with a relaxed mouth"],
                "CONCERNED": ["anxious"],
                "DISBELIEF": ["with the mouth hanging open"],
                "EATING": ["with a full mouth"],
                "GRIMACE": ["with clenched teeth"],
                "SAD": ["unhappy", "with a downturned mouth"],
                "SCREAM_OPEN": ["yelling"],
                "SERIOUS": ["stern"],
                "SMILE": ["grinning",
                          "with a grin",
                          "beaming",
                          "laughing",
                          "with a smile",
                          "happy",
                          "with a wide smile"],
                "TONGUE": ["being cheeky with the tongue out"],
                "TWINKLE": ["with a slight smile", "with a smirk"],
                "VOMIT": ["throwing up"]},
 "eye_type": {"DEFAULT": ["with eyes open"],
              "CLOSE": ["with eyes closed", "sleeping", "asleep", "with shut eyes"],
              "CRY": ["weeping"],
              "EYE_ROLL": ["rolling eyes"],
              "HEARTS": ["with hearts for eyes"],
              "SIDE": ["looking sideways"],
              "SQUINT": ["with squinting eyes"]}}

def _merged(first: dict, more: dict) -> dict:
    return {k: _merged(v, more.get(k, {})) if isinstance(v, dict) else v + more.get(k, []) for k, v in first.items()}


# What the captions say: the first wordings and the others.
ALL_COLOURS, ALL_HAIR_COLOURS = _merged(COLOURS, MORE_COLOURS), _merged(HAIR_COLOURS, MORE_HAIR_COLOURS)
ALL_TOPS, ALL_PHRASES = _merged(OTHER_TOPS, MORE_TOPS), _merged(PHRASES, MORE_PHRASES)

# What a face is not, said of the named classes (metrics.coverage.NAMED) it lacks: a caption may
# deny one of them (NEGATION_RATE), so that "not smiling" and "without a hat" mean something.
NEGATIONS = {
    "sunglasses": ["without sunglasses", "not wearing sunglasses", "with no shades"],
    "smiling": ["not smiling", "without a smile"],
    "beard or moustache": ["with no beard", "clean-shaven", "without a moustache"],
    "hat": ["without a hat", "not wearing a hat", "with no hat"],
    "closed eyes": ["with open eyes", "with eyes open", "awake"],
    "pink hair": ["without pink hair"],
}
NEGATION_RATE = 0.15
# Wordings that no caption ever uses, kept aside to measure how the CLIP takes what visitors type
# in their own words (training/train_clip.py --heldout-wordings). Per named class: what says it
# ("says") and what says it is absent ("denies"). Some reuse the captions' words in a new order
# or a new frame; the others bring a word the captions never use (held_out_words() tells which).
HELD_OUT = {
    "sunglasses": {"says": ["in shades", "with shades on", "in dark sunglasses", "sporting sunglasses",
                            "with dark lenses", "wearing sunnies", "in tinted eyewear"],
                   "denies": ["with no sunglasses", "without shades"]},
    "smiling": {"says": ["with a big grin", "smiling widely", "with a happy smile", "grinning from ear to ear",
                         "with a cheesy grin", "looking joyful", "all smiles"],
                "denies": ["with no smile", "unsmiling"]},
    "beard or moustache": {"says": ["with a thick beard", "with a big bushy beard", "with whiskers",
                                    "with a scruffy beard", "sporting a moustache", "with a goatee"],
                           "denies": ["with no moustache", "smooth-shaven"]},
    "hat": {"says": ["with a winter hat on", "in a knit cap", "wearing a woolly beanie", "with headwear",
                     "in a knitted toque", "wearing a trilby"],
            "denies": ["with no hat on", "hatless"]},
    "closed eyes": {"says": ["with the eyes closed", "sleeping with eyes shut", "eyes closed and asleep",
                             "napping", "dozing off", "with eyelids down"],
                    "denies": ["with the eyes open", "wide awake"]},
    "pink hair": {"says": ["with hair of pastel pink", "with curly hair in pastel pink", "pink hair all over",
                           "with rose-coloured hair", "with candy-pink locks", "with fuchsia hair"],
                  "denies": ["with no pink hair", "not pink-haired"]},
}

# How often an attribute is mentioned, when its class is the common one / another one.
MENTION = {"skin_color": (0.35, 0.35), "top": (0.75, 0.75), "accessories_type": (0.1, 0.85),
           "facial_hair_type": (0.15, 0.85), "mouth_type": (0.25, 0.7), "eye_type": (0.2, 0.7),
           "eyebrow_type": (0.05, 0.3), "clothe_type": (0.25, 0.25)}
COMMON = {"accessories_type": "DEFAULT", "facial_hair_type": "DEFAULT", "mouth_type": "DEFAULT", "eye_type": "DEFAULT",
          "eyebrow_type": "DEFAULT"}


def _name(attribute: str, labels: dict) -> str | None:
    i = int(labels[attribute])
    return attribute_classes(attribute)[i] if i >= 0 else None


def top_options(labels: dict) -> list[tuple[str, float]]:
    """What is on the head, as (phrase, weight): hair (colour and style) or a hat, scarf, eye
    patch, bald head. The colour-only wordings of one colour word share the weight one phrase
    had before there were several, so that styles are named as often as they were."""
    top, hair = _name("top_type", labels), _name("hair_color", labels)
    if top in HAIR_STYLES:
        colours = ALL_HAIR_COLOURS.get(hair, [""]) if hair else [""]
        out = []
        for style in HAIR_STYLES[top]:
            for colour in colours:
                out.append((f"with {colour} {style} hair".replace("  ", " "), 1.0))
                out.append((f"with {style} hair", 1.0))
        for c in colours:
            if c:
                said = hair_colour_wordings(c)
                out += [(t, 1.0 / len(said)) for t in said]
        if top == "LONG_HAIR_BUN":
            out += [(f"with {c} hair in a bun".replace("  ", " "), 1.0) for c in colours]
        return out
    c = ALL_COLOURS.get(_name("hat_color", labels) or "", ["coloured"])
    return [(p.replace("{c}", colour), 1.0) for p in ALL_TOPS[top] for colour in c]


def top_phrases(labels: dict) -> list[str]:
    """The phrases of top_options."""
    return [p for p, _ in top_options(labels)]


def phrases(attribute: str, labels: dict) -> list[str]:
    """The phrases that describe this face's class of `attribute` ([] where it does not show)."""
    name = _name(attribute, labels)
    if name is None:
        return []
    colour_of = {"facial_hair_type": ("facial_hair_color", ALL_HAIR_COLOURS), "clothe_type": ("clothe_color", ALL_COLOURS)}
    out = ALL_PHRASES[attribute][name]
    if attribute in colour_of:
        key, table = colour_of[attribute]
        colours = table.get(_name(key, labels) or "", [])
        out = [p.replace("{c}", c) for p in out for c in colours] if colours else \
            [p.replace(" {c}", "") for p in out]
    return out


# For some named classes, the classes of which a denial is true (for the others: every visible
# class outside the named ones). "Not smiling" is not said of a smirk, nor
# "with open eyes" of happy, winking or squinting eyes.
DENIABLE = {"smiling": ["DEFAULT", "CONCERNED", "DISBELIEF", "EATING", "GRIMACE", "SAD", "SCREAM_OPEN", "SERIOUS",
                        "VOMIT"],
            "closed eyes": ["DEFAULT", "SIDE", "SURPRISED", "EYE_ROLL"]}


def lacks(name: str, labels: dict) -> bool:
    """Whether a face visibly lacks the named class (metrics.coverage.NAMED) `name`, so that a
    caption may say so."""
    attribute, classes = NAMED[name]
    have = _name(attribute, labels)
    if have is None:
        return False
    if name == "pink hair" and _name("top_type", labels) not in HAIR_STYLES:
        return False
    return have in DENIABLE[name] if name in DENIABLE else have not in classes


def caption(labels: dict, rng: np.random.Generator, must: str | None = None) -> str:
    """One caption of a face (labels: {attribute: class index}, -1 where not visible). must: an
    attribute the caption always mentions (for a face and its twin: given generators in the same
    state, the two captions differ only in that attribute's phrase). Without `must`, a caption
    may also say what the face is not (NEGATIONS), where it has not said what it is."""
    if must in ("hair_color", "top_type"):
        must = "top"
    parts, said = [], set()
    for key, (p_common, p_other) in MENTION.items():
        options = top_options(labels) if key == "top" else phrases(key, labels)
        if not options:
            continue
        common = key in COMMON and _name(key, labels) == COMMON[key]
        if rng.random() < (p_common if common else p_other) or key == must:
            # With `must`, exactly one draw per pick, whatever the number of options (integers()
            # may draw more than once), so that a face's and its twin's captions stay in step.
            if key == "top":  # by weight, one draw
                weights = np.cumsum([w for _, w in options])
                pick = min(int(np.searchsorted(weights, rng.random() * weights[-1], side="right")), len(options) - 1)
                parts.append(options[pick][0])
            else:
                pick = int(rng.random() * len(options)) if must else int(rng.integers(len(options)))
                parts.append(options[pick])
            said.add(key)
    if not parts:
        parts.append(top_phrases(labels)[0])
    if must is None and rng.random() < NEGATION_RATE:
        where = {"hat": "top", "pink hair": "top"}
        deniable = [n for n in NEGATIONS if lacks(n, labels)
                    and where.get(n, NAMED[n][0]) not in said]
        if deniable:
            options = NEGATIONS[deniable[int(rng.integers(len(deniable)))]]
            parts.append(options[int(rng.integers(len(options)))])
    rng.shuffle(parts)
    subject = SUBJECTS[rng.integers(len(SUBJECTS))]
    if _name("facial_hair_type", labels) not in (None, "DEFAULT") and rng.random() < 0.3:
        subject = "a cartoon man"
    text = f"{subject} {parts[0]}" if len(parts) == 1 else f"{subject} {', '.join(parts[:-1])} and {parts[-1]}"
    return re.sub(r"\ba ([aeio])", r"an \1", text)


def class_prompts(attribute: str) -> dict[str, list[str]]:
    """{class: phrases} for zero-shot classification of one attribute, colour-free where the
    phrase has a colour slot (hat and clothes colours are their own attributes). Only the first
    wordings (PHRASES, not MORE_PHRASES): every CLIP generation's card is measured on the same
    prompts, and a CLIP trained before the other wordings existed is not asked words it never saw."""
    if attribute == "hair_color":
        return {c: [f"with {w} hair" for w in words] for c, words in HAIR_COLOURS.items()}
    if attribute in ("hat_color", "clothe_color"):
        thing = "hat" if attribute == "hat_color" else "shirt"
        return {c: [f"wearing a {w} {thing}" for w in words] for c, words in COLOURS.items()}
    if attribute == "facial_hair_color":
        return {c: [f"with a {w} beard" for w in words] for c, words in HAIR_COLOURS.items()}
    if attribute == "top_type":
        out = {}
        for c in attribute_classes("top_type"):
            if c in HAIR_STYLES:
                out[c] = [f"with {s} hair" for s in HAIR_STYLES[c]]
            else:
                out[c] = [p.replace(" {c}", "") for p in OTHER_TOPS[c]]
        return out
    return {c: [p.replace(" {c}", "") for p in v] for c, v in PHRASES[attribute].items()}


def words_of(attribute: str) -> set[str]:
    """Every word the captions (and the held-out wordings) use for `attribute`, to tell which
    attributes a prompt names."""
    if attribute == "top_type":
        texts = [p for v in HAIR_STYLES.values() for p in v] + ["hair"] + [p for v in ALL_TOPS.values() for p in v]
    elif attribute in ("hair_color", "facial_hair_color"):
        texts = [w for v in ALL_HAIR_COLOURS.values() for w in v] + ["hair" if attribute == "hair_color" else "beard"]
        if attribute == "hair_color":
            texts += [f"{w}-haired" for v in ALL_HAIR_COLOURS.values() for w in v if " " not in w]
    elif attribute in ("hat_color", "clothe_color"):
        texts = [w for v in ALL_COLOURS.values() for w in v]
    else:
        texts = [p for v in ALL_PHRASES[attribute].values() for p in v]
    for name, (named_attribute, _) in NAMED.items():
        if named_attribute == attribute or (attribute == "top_type" and name == "hat"):
            texts += NEGATIONS[name] + HELD_OUT[name]["says"] + HELD_OUT[name]["denies"]
    words = {w for t in texts for w in t.replace("{c}", "").replace(",", " ").split()}
    return words - {"hair"} if attribute == "facial_hair_type" else words  # "facial hair" is not the hair


def training_phrases() -> list[str]:
    """Every phrase a training caption can put after its subject, with every colour filled in."""
    colours = sorted({w for table in (ALL_COLOURS, ALL_HAIR_COLOURS) for v in table.values() for w in v})
    texts = [p for v in ALL_TOPS.values() for p in v]
    texts += [w for v in ALL_HAIR_COLOURS.values() for c in v for w in hair_colour_wordings(c)]
    texts += [p for table in ALL_PHRASES.values() for v in table.values() for p in v] + [p for v in NEGATIONS.values() for p in v]
    texts += [f"with {c} {s} hair" for s in [s for v in HAIR_STYLES.values() for s in v] for c in colours + [""]]
    texts += [f"with {c} hair in a bun" for c in colours + [""]]
    texts = [t.replace("{c}", c) if c else t.replace(" {c}", "").replace("{c}", "")
             for t in texts for c in (colours + [""] if "{c}" in t else [""])]
    return sorted({" ".join(t.split()) for t in texts})


def caption_vocabulary() -> set[str]:
    """Every word a training caption can use."""
    texts = training_phrases() + list(SUBJECTS) + ["a cartoon man", "and", "an"]
    return {w for t in texts for w in t.replace(",", " ").split()}


def trained_wordings(name: str) -> dict[str, list[str]]:
    """{"says": [...], "denies": [...]}: what the training captions say of the named class
    (metrics.coverage.NAMED) `name`, colour-free, beside HELD_OUT's wordings of it."""
    attribute, classes = NAMED[name]
    if name == "pink hair":
        says = [w for c in ALL_HAIR_COLOURS["PASTEL_PINK"] for w in hair_colour_wordings(c)]
    elif attribute == "top_type":
        says = [p.replace(" {c}", "") for c in classes for p in ALL_TOPS[c]]
    else:
        says = [p.replace(" {c}", "") for c in classes for p in ALL_PHRASES[attribute][c]]
    return {"says": sorted(set(says)), "denies": list(NEGATIONS[name])}


def held_out_wordings() -> dict:
    """{named class: {"says" | "denies": {"new phrasing" | "new word": [wordings]}}}: the held-out
    wordings, sorted by whether every word of one appears in some caption (a new phrasing of
    known words) or not (a word training never saw)."""
    known = caption_vocabulary()
    out = {}
    for name, sides in HELD_OUT.items():
        out[name] = {side: {"new phrasing": [w for w in wordings if set(w.split()) <= known],
                            "new word": [w for w in wordings if not set(w.split()) <= known]}
                     for side, wordings in sides.items()}
    return out


# Words that say nothing about which attribute is meant.
STOP_WORDS = {"a", "an", "the", "with", "and", "in", "of", "to", "on", "wearing", "looking", "face", "person", "cartoon",
              "avatar", "man", "woman", "no", "without", "very", "big", "long", "short", "little", "light", "dark",
              "out", "one", "some", "is", "has", "having", "who", "that", "drawing", "illustrated", "portrait",
              "not", "colour", "color", "character", "someone", "profile", "picture", "like", "being", "all", "for",
              "from", "off", "up", "down", "new", "cool", "happy", "over", "sporting", "ear"}
COLOUR_THINGS = {"hair_color": {"hair", "blonde", "ginger", "auburn", "platinum", "redhead", "locks", "brunette"} |
                 {f"{w}-haired" for v in ALL_HAIR_COLOURS.values() for w in v if " " not in w},
                 "hat_color": {"hat", "hijab", "turban", "beanie", "headscarf", "cap"},
                 "clothe_color": {"shirt", "t-shirt", "hoodie", "sweater", "top", "overalls", "blazer", "clothes", "v-neck"},
                 "facial_hair_color": {"beard", "moustache", "mustache", "stubble"}}


def vocabulary() -> dict:
    """The words the captions use for each attribute, the words that name none, and the things
    each colour attribute colours: written beside the classifier (words.json) so the app can tell
    which attributes a prompt names without this module."""
    return {"words": {a: sorted(words_of(a)) for a in ATTRIBUTES if a != "clothe_graphic_type"},
            "stop_words": sorted(STOP_WORDS), "colour_things": {a: sorted(v) for a, v in COLOUR_THINGS.items()}}


def named_attributes(prompt: str, attributes=ATTRIBUTES) -> set[str]:
    """The attributes among `attributes` that a prompt speaks of (companions.classifier.named_attributes
    with the captions' vocabulary)."""
    from companions.classifier import named_attributes as named
    return named(prompt, vocabulary()) & set(attributes)


__all__ = ["ATTRIBUTES", "caption", "phrases", "lacks", "held_out_wordings", "caption_vocabulary", "training_phrases", "trained_wordings",
           "HELD_OUT", "NEGATIONS", "top_options", "top_phrases", "class_prompts", "words_of", "named_attributes", "vocabulary", "SUBJECTS"]
