"""Traffic that looks real: user agents seen in the wild, and bots."""

from __future__ import annotations

import json
import random
from importlib import resources

# Crawlers as they announce themselves in access logs.
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.216 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)",
    "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (compatible; DuckDuckBot-Https/1.1; https://duckduckgo.com/duckduckbot)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "curl/8.4.0",
    "python-requests/2.31.0",
    "Wget/1.21.4",
    "Go-http-client/1.1",
    "Apache-HttpClient/4.5.14 (Java/17.0.8)",
    "Mozilla/5.0 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
    "Mozilla/5.0 (compatible; Applebot/0.1; +http://www.apple.com/go/applebot)",
]


def real_user_agents(count: int, seed: int = 3) -> list[str]:
    """`count` distinct browser user agents.

    fake-useragent ships ~850 distinct real-world ones; paid traffic is full of
    in-app browsers too, so the rest are its mobile agents as Facebook's and
    Instagram's in-app browsers announce them, with varying app versions.
    """
    rng = random.Random(seed)
    data = resources.files("fake_useragent") / "data" / "browsers.jsonl"
    records = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    agents = sorted({r["useragent"] for r in records})
    mobile = sorted({r["useragent"] for r in records if r.get("type") == "mobile"})
    seen = set(agents)
    while len(agents) < count:
        base = rng.choice(mobile)
        app = rng.choice(["FB", "IG"])
        version = f"{rng.randrange(400, 480)}.0.0.{rng.randrange(10, 60)}.{rng.randrange(100, 120)}"
        agent = (
            f"{base} [FBAN/FBIOS;FBAV/{version};FBBV/{rng.randrange(10**8, 10**9)};FBDV/iPhone14,5]"
            if app == "FB"
            else f"{base} Instagram {version} (iPhone14,5; iOS 17_5; en_US; en; scale=3.00)"
        )
        if agent not in seen:
            seen.add(agent)
            agents.append(agent)
    return rng.sample(agents, count)


def bot_user_agents() -> list[str]:
    return list(BOTS)
