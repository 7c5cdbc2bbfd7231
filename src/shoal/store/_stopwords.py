"""The words that tell languages apart, and the stop words an analyser can drop.

Short lists of each language's most frequent function words (articles, pronouns,
prepositions, conjunctions, forms of "to be" and "to have"), written here in case-folded
form. `detect_language` counts them to tell languages of one script apart; an `Analyzer`
made with ``stop_words=True`` drops them before stemming, as Lucene's language analysers
drop theirs (datasets' analysers do not: see `_languages`). A list need not be complete;
it must only hold no content word. English's analyser keeps Lucene's 33 words
(`_keyword.STOPWORDS`); `ENGLISH_MARKERS` is a longer list for detection only.
"""

from __future__ import annotations

__all__ = ["ENGLISH_MARKERS", "STOPWORDS"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ENGLISH_MARKERS = _words(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with i you he she we have has had do does what "
    "which who from his her"
)
"""Words that mark English text (for detection; the analyser drops only Lucene's 33)."""

STOPWORDS: dict[str, frozenset[str]] = {
    "german": _words(
        "aber alle allem allen aller alles als also am an andere anderen auch auf aus bei bin "
        "bis bist da damit dann das dass dein deine dem den denn der des dessen dich die dies "
        "diese diesem diesen dieser dieses dir doch dort du durch ein eine einem einen einer "
        "eines er es euch euer für gegen habe haben hat hatte hier ich ihm ihn ihnen ihr ihre "
        "im in ist ja jede jedem jeden jeder jedes kann kein keine man mein meine mich mir mit "
        "muss nach nicht noch nun nur ob oder ohne sein seine sich sie sind so soll sondern um "
        "und uns unser unter vom von vor war waren was weil welche wenn wer werde werden wie "
        "wir wird wo zu zum zur über"
    ),
    "french": _words(
        "à au aux avec ce ces cet cette dans de des du elle elles en et eux il ils je la le "
        "les leur leurs lui ma mais me même mes moi mon ne nos notre nous on ou où par pas "
        "pour qu que qui sa se ses son sur ta te tes toi ton tu un une vos votre vous c d j l "
        "m n s t y est sont était ai as a ont avait être"
    ),
    "spanish": _words(
        "a al algo algunos ante antes como con contra cual cuando de del desde donde durante "
        "e el ella ellas ellos en entre era es esa esas ese eso esos esta estaba estas este "
        "esto estos está están fue fueron ha había han hasta hay la las le les lo los me mi "
        "mis muy más mí nada ni no nos nosotros o os otra otro para pero por porque que quien "
        "qué se ser si sin sobre su sus también te ti tu tus tú un una uno unos y ya yo él"
    ),
    "italian": _words(
        "a ad agli ai al alla alle allo anche c che chi ci come con contro da dagli dai dal "
        "dalla dalle degli dei del della delle dello di dove e ed era erano gli ha hanno ho i "
        "il in io la le lei li lo loro lui ma mi mia mie miei mio ne negli nei nel nella "
        "nelle nello noi non nostro o per perché più quale quando quella quelle quello questa "
        "queste questi questo se si sia sono su sua sue sui sul sulla suo suoi ti tra tu tua "
        "tuo un una uno voi è"
    ),
    "portuguese": _words(
        "a ao aos as até com como da das de dela dele deles do dos e ela elas ele eles em "
        "entre era essa esse esta este eu foi há isso isto já lhe lhes mais mas me mesmo meu "
        "minha muito na nas nem no nos nós não o os ou para pela pelas pelo pelos por quando "
        "que quem se sem seu sua são também te tem tu um uma você à é"
    ),
    "dutch": _words(
        "aan al alles als ben bij daar dan dat de der deze die dit doch door dus een en er "
        "geen had heb hebben heeft het hier hij hoe hun ik in is je kan maar me men met mij "
        "mijn na naar niet niets nog nu of om omdat ons ook op over te tegen toch toen tot u "
        "uit van voor want was wat we wel werd wie wij wil worden zal ze zich zij zijn zo zou"
    ),
    "swedish": _words(
        "att av de dem den denna det detta dig du där efter eller en ett för från ha hade han "
        "hans har henne hennes hon honom hur i inte jag kan med mig min mitt men mot ni nu när "
        "och om oss på sig sin sitt som så till under upp ut var vad vi vid är över"
    ),
    "danish": _words(
        "af alle at blev bliver da de dem den denne der deres det dig din disse du efter eller "
        "en end er et for fra ham han hans har havde hende hendes her hvad hvis hvor i ikke "
        "jeg jer kan med meget men mig min mit mod når og også om op os over på sig sin sit "
        "skal som til ud under var vi vil være"
    ),
    "norwegian": _words(
        "alle at av bare da de deg dei dem den denne der det dette din disse du eg ein eit "
        "eller en er et etter for fra han hans har hennes hun hva hvis hvor i ikke jeg kan "
        "med meg men min mitt mot når og også om opp oss over på seg sin sitt skal som til "
        "under ut var vi vil være"
    ),
    "finnish": _words(
        "ja ei on oli ole olen olet olla ovat ollut se sen sitä siitä että hän he me te minä "
        "sinä mutta kun jos niin myös vain tai kuin joka jotka mikä mitä tämä nyt hänen "
        "heidän minun sinun meidän teidän"
    ),
    "russian": _words(
        "а без бы был была были было быть в вам вас весь во вот все всё вы где да для до его "
        "ее её если есть еще ещё же за здесь и из или им их к как когда кто ли меня мне мы на "
        "над не него нее неё нет ни них но ну о об он она они оно от очень по под при с со так "
        "также там тебя тебе то тоже только ты у уже хотя чего чем что чтобы эта эти это я"
    ),
    "arabic": _words(
        "في من على إلى الى عن مع هذا هذه ذلك تلك التي الذي الذين هو هي هم أن ان إن لا ما لم لن "
        "قد كان كانت كل بعد قبل ثم أو او و يا عند حتى إذا اذا بين هناك كما لقد أنا انا نحن أنت انت"
    ),
    "persian": _words(
        "از به با در که این آن را برای تا هم یا اما است بود شد می های ها هر یک خود ما من تو او "
        "شما آنها نیز"
    ),
    "turkish": _words(
        "ve bir bu da de için ile gibi çok daha ne o şu ama ben sen biz siz onlar mi mı mu mü "
        "değil var yok kadar sonra olan olarak ise her en"
    ),
    "indonesian": _words(
        "yang dan di ke dari ini itu dengan untuk tidak ada akan pada juga saya kami kita "
        "mereka anda dia adalah atau oleh sudah telah bisa dalam"
    ),
    "hungarian": _words(
        "a az és egy hogy nem is de meg van volt ez azt el mint csak már még ki be fel le vagy "
        "ha én te ő mi ti ők"
    ),
    "romanian": _words(
        "și în la de cu pe un o că nu se este sunt a al ale ce din care mai dar sau ca el ea "
        "ei eu tu noi voi pentru fi fost"
    ),
    "catalan": _words(
        "el la els les de del dels i a en un una que per amb no es és són al als com més o "
        "però seu seva jo tu ell ella nosaltres vosaltres ells"
    ),
    "greek": _words(
        "ο η το οι τα του της των τον την και να σε με για από που δεν θα είναι ένα μια αλλά "
        "ή ως στο στη στην στον στα στις"
    ),
    "hindi": _words("का के की है में और को से पर यह वह था थी थे हैं भी नहीं एक कि जो तो हो गया लिए कर ने"),
}
"""Each language's stop words, case-folded (languages not here keep every word)."""
