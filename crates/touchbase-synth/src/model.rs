//! How the organization behaves: when each point is busy (its rhythm), how it performs against
//! its expectations (its profile), and which earlier interaction a party comes from (links).
//!
//! The demo organization (Northwind Grocers) has a story told point by point below, so that its
//! portfolio has points clearly above expectation, points below, and points of low quality.
//! Any other inventory gets profiles derived from each point's interface mode, rhythms from its
//! channel, and links from its processes' steps.

use touchbase_core::{Mode, PartyKind, Point};

/// When a point is busy, by hour, weekday, day of the month and month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rhythm {
    /// Shops: 7:00–22:00, lunch and after-work peaks, busy Fridays and Saturdays.
    Store,
    /// Households online: all day, evening peak, Sunday planning the week's shop.
    Online,
    /// A weekly campaign sent on Thursday mornings, opened over the following days.
    Campaign,
    /// Staffed phone lines: weekdays 8:00–20:00, Saturday mornings, closed on Sundays.
    Phone,
    /// Business to business: weekdays, office hours.
    Business,
    /// Goods in at the dock: early mornings, Monday to Saturday.
    Dock,
    /// Home delivery: Monday to Saturday, texts in the morning, drops through the day.
    Delivery,
    /// Devices reporting around the clock.
    Telemetry,
    /// One batch each weekday morning.
    DailyBatch,
    /// Statements at the start of each month.
    Monthly,
    /// Post: Monday to Saturday mornings, a monthly edition in the first week.
    Mail,
}

const MONTHS_CONSUMER: [f64; 12] = [
    0.92, 0.9, 0.97, 1.0, 1.0, 1.0, 0.95, 0.9, 1.0, 1.02, 1.08, 1.3,
];
const MONTHS_FLAT: [f64; 12] = [
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.97, 0.95, 1.0, 1.0, 1.02, 1.1,
];

impl Rhythm {
    /// The relative weight of one hour: `weekday` Monday = 0, `hour` 0–23, `mday` 1–31,
    /// `month` 1–12.
    pub(crate) fn weight(self, weekday: usize, hour: u32, mday: u32, month: u32) -> f64 {
        use Rhythm::*;
        let m = month as usize - 1;
        let h = hour;
        let closed_holiday = (month == 12 && mday == 25) || (month == 1 && mday == 1);
        match self {
            Store => {
                if closed_holiday || !(7..22).contains(&h) {
                    return 0.0;
                }
                let day = [0.9, 0.85, 0.9, 1.0, 1.25, 1.45, 0.8][weekday];
                let hour = match h {
                    11..=13 => 1.3,
                    16..=18 => 1.6,
                    7 | 21 => 0.4,
                    _ => 1.0,
                };
                day * hour * MONTHS_CONSUMER[m]
            }
            Online => {
                let day = [1.1, 1.0, 1.0, 1.0, 0.85, 0.8, 1.35][weekday];
                let hour = match h {
                    0 => 0.3,
                    1..=5 => 0.05,
                    6 => 0.3,
                    7..=8 => 0.8,
                    19..=21 => 1.8,
                    22..=23 => 0.9,
                    _ => 1.0,
                };
                day * hour * MONTHS_CONSUMER[m]
            }
            Campaign => {
                let day = [0.55, 0.45, 0.45, 3.0, 1.2, 0.6, 0.5][weekday];
                let hour = match h {
                    0..=5 => 0.05,
                    7..=9 => 2.0,
                    19..=21 => 1.3,
                    _ => 1.0,
                };
                day * hour * MONTHS_CONSUMER[m]
            }
            Phone => {
                if closed_holiday {
                    return 0.0;
                }
                let open = match weekday {
                    0..=4 => (8..20).contains(&h),
                    5 => (9..13).contains(&h),
                    _ => false,
                };
                if !open {
                    return 0.0;
                }
                let day = [1.35, 1.05, 1.0, 0.95, 0.9, 0.7, 0.0][weekday];
                let hour = if (9..12).contains(&h) { 1.4 } else { 1.0 };
                day * hour * MONTHS_CONSUMER[m]
            }
            Business => {
                if closed_holiday || weekday >= 5 || !(8..18).contains(&h) {
                    return 0.0;
                }
                let hour = if h == 12 { 0.6 } else { 1.0 };
                [1.1, 1.0, 1.0, 1.0, 0.85, 0.0, 0.0][weekday] * hour * MONTHS_FLAT[m]
            }
            Dock => {
                if closed_holiday || weekday == 6 || !(5..15).contains(&h) {
                    return 0.0;
                }
                let day = if weekday == 5 { 0.3 } else { 1.0 };
                let hour = if h < 9 { 1.6 } else { 0.8 };
                day * hour * MONTHS_FLAT[m]
            }
            Delivery => {
                if closed_holiday || !(6..22).contains(&h) {
                    return 0.0;
                }
                let day = [1.0, 1.0, 1.0, 1.05, 1.15, 1.2, 0.35][weekday];
                let hour = match h {
                    6..=8 => 1.8,
                    17..=19 => 1.4,
                    _ => 1.0,
                };
                day * hour * MONTHS_CONSUMER[m]
            }
            Telemetry => {
                let hour = if (8..20).contains(&h) { 1.15 } else { 0.85 };
                hour * MONTHS_FLAT[m]
            }
            DailyBatch => {
                if weekday >= 5 || h != 6 {
                    return 0.0;
                }
                1.0
            }
            Monthly => {
                if !(8..18).contains(&h) {
                    return 0.0;
                }
                if mday <= 2 { 1.0 } else { 0.01 }
            }
            Mail => {
                if weekday == 6 || closed_holiday || !(9..14).contains(&h) {
                    return 0.0;
                }
                let edition = if mday <= 7 { 2.5 } else { 1.0 };
                edition * MONTHS_CONSUMER[m]
            }
        }
    }

    /// The rhythm a point's channel suggests, for points the story does not name.
    pub(crate) fn for_point(point: &Point, party_kind: Option<PartyKind>) -> Rhythm {
        let organization = party_kind == Some(PartyKind::Organization);
        match point.channel.as_str() {
            "store" => Rhythm::Store,
            "phone" => Rhythm::Phone,
            "iot" => Rhythm::Telemetry,
            "dock" => Rhythm::Dock,
            "mail" => Rhythm::Mail,
            "sms" | "van" => Rhythm::Delivery,
            "api" | "edi" => Rhythm::Business,
            "email" if organization => Rhythm::Monthly,
            "email" => Rhythm::Campaign,
            _ if organization => Rhythm::Business,
            _ => Rhythm::Online,
        }
    }
}

/// How a point performs: multipliers of its `expected` figures and its quality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Profile {
    /// Volume relative to `expected.volume_per_month`.
    pub volume: f64,
    /// Value to the organization per interaction, relative to `expected.value_company`.
    pub value: f64,
    /// Value to the party per interaction, relative to `expected.value_party`.
    pub party_value: f64,
    /// Cost per interaction, relative to `expected.cost`.
    pub cost: f64,
    /// The rate of good outcomes: satisfied (4 or 5), resolved, engaged.
    pub quality: f64,
    /// The share of interactions whose data breaks the point's contract.
    pub nonconformant: f64,
    /// Change of volume over the period: +0.3 ends 30 % above where it starts.
    pub growth: f64,
    /// The share of interactions with no known party (no loyalty card, not logged in, devices).
    pub anonymous: f64,
    /// Parties come from the first part of the pool only (a pilot with few households).
    pub pool_share: f64,
}

impl Profile {
    /// A point the story does not name: close to expectations, with a quality typical of its
    /// interface mode, varied a little by its key.
    pub(crate) fn for_point(point: &Point) -> Profile {
        let h = key_hash(&point.key);
        let jitter = |shift: u32, spread: f64| {
            let unit = ((h >> shift) & 0xffff) as f64 / 65_535.0;
            1.0 + spread * (2.0 * unit - 1.0)
        };
        let quality = match point.mode {
            Mode::Machine => 0.74,
            Mode::Hybrid => 0.68,
            Mode::People => 0.64,
        } * jitter(48, 0.15);
        Profile {
            volume: jitter(0, 0.2),
            value: jitter(16, 0.15),
            party_value: 1.0,
            cost: jitter(32, 0.1),
            quality: quality.clamp(0.05, 0.97),
            nonconformant: 0.02 + 0.02 * jitter(8, 1.0) / 2.0,
            growth: 0.0,
            anonymous: 0.0,
            pool_share: 1.0,
        }
    }
}

/// FNV-1a: a stable hash of a key (the standard library's may change between releases).
pub(crate) fn key_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The demo organization's story, point by point: (key, rhythm, profile).
#[allow(clippy::type_complexity)]
pub(crate) fn story(key: &str) -> Option<(Rhythm, Profile)> {
    use Rhythm::*;
    // volume, value, party value, cost, quality, nonconformant, growth, anonymous, pool share
    let (rhythm, v): (Rhythm, [f64; 9]) = match key {
        // marketing
        "web.newsletter-signup" => (Online, [1.1, 1.15, 1.0, 1.0, 0.78, 0.03, 0.2, 0.0, 1.0]),
        "email.weekly-offers" => (Campaign, [1.0, 1.1, 1.0, 1.0, 0.7, 0.01, 0.05, 0.0, 1.0]),
        // Legacy: falling volume, little value, low quality — a candidate to eliminate.
        "mail.catalogue" => (Mail, [0.8, 0.6, 0.8, 1.1, 0.42, 0.03, -0.3, 0.0, 1.0]),
        "app.loyalty-enroll" => (Online, [1.05, 1.05, 1.0, 1.0, 0.8, 0.04, 0.1, 0.0, 1.0]),
        "social.community" => (Online, [1.0, 0.9, 1.0, 1.05, 0.55, 0.05, 0.1, 0.5, 1.0]),
        "app.personal-offers" => (Online, [1.1, 1.2, 1.1, 1.0, 0.75, 0.02, 0.15, 0.0, 1.0]),
        // sales
        "store.checkout" => (Store, [1.0, 0.95, 1.0, 1.15, 0.68, 0.02, -0.05, 0.35, 1.0]),
        "store.self-checkout" => (Store, [1.05, 1.05, 1.0, 0.9, 0.66, 0.03, 0.1, 0.3, 1.0]),
        // The growth channel, clearly above expectation.
        "web.order" => (Online, [1.15, 1.2, 1.1, 0.95, 0.82, 0.03, 0.25, 0.0, 1.0]),
        // Loved by its few users, but each call costs more than its margin.
        "phone.order-line" => (Phone, [0.9, 0.95, 1.0, 1.1, 0.74, 0.08, -0.15, 0.0, 0.1]),
        "b2b.account-order" => (Business, [0.95, 0.7, 1.0, 1.3, 0.7, 0.04, 0.0, 0.0, 1.0]),
        "iot.fridge-reorder" => (Telemetry, [1.0, 1.0, 1.0, 1.0, 0.7, 0.02, 0.4, 0.0, 0.04]),
        "kiosk.price-check" => (Store, [0.05, 1.0, 1.0, 1.0, 0.6, 0.03, -0.8, 1.0, 1.0]),
        // fulfillment
        "store.click-collect" => (Store, [1.0, 1.1, 1.0, 0.95, 0.74, 0.03, 0.15, 0.0, 1.0]),
        "api.carrier-dispatch" => (Delivery, [1.0, 1.0, 1.0, 1.0, 0.85, 0.015, 0.2, 0.0, 1.0]),
        // Phone numbers missing from the texts: data below contract.
        "sms.delivery-eta" => (Delivery, [1.0, 1.0, 1.0, 1.0, 0.7, 0.12, 0.2, 0.0, 1.0]),
        "iot.van-temperature" => (Delivery, [0.6, 1.0, 1.0, 1.0, 0.8, 0.02, 0.1, 1.0, 1.0]),
        // The last human contact, and a weak one: low quality, kept for its strategic value.
        "van.doorstep-handover" => (Delivery, [1.0, 1.0, 1.0, 1.05, 0.52, 0.04, 0.2, 0.0, 1.0]),
        // finance
        "web.payment" => (Online, [1.15, 1.05, 1.0, 0.95, 0.72, 0.01, 0.25, 0.0, 1.0]),
        "api.payment-settlement" => (DailyBatch, [1.0, 1.0, 1.0, 1.0, 0.9, 0.01, 0.0, 0.0, 1.0]),
        "email.b2b-invoice" => (Monthly, [1.0, 1.0, 1.0, 1.0, 0.66, 0.02, 0.0, 0.0, 1.0]),
        // Little cash recovered, poorly received: a candidate to eliminate.
        "phone.collections" => (Business, [1.0, 0.6, 1.0, 1.2, 0.45, 0.05, 0.0, 0.0, 1.0]),
        // Manual keying: costly, error-prone, low quality.
        "mail.supplier-invoice" => (Mail, [1.0, 1.0, 1.0, 1.1, 0.4, 0.15, -0.2, 0.0, 1.0]),
        // service
        "phone.care" => (Phone, [1.0, 1.0, 1.0, 1.0, 0.7, 0.05, 0.0, 0.0, 1.0]),
        "web.chat" => (Online, [1.0, 1.1, 1.0, 0.9, 0.5, 0.04, 0.2, 0.4, 1.0]),
        "store.returns-desk" => (Store, [1.0, 1.0, 1.0, 1.0, 0.66, 0.05, 0.0, 0.2, 1.0]),
        // Automatic small refunds: clearly above expectation.
        "web.refund" => (Online, [1.0, 1.6, 1.1, 0.9, 0.72, 0.03, 0.1, 0.0, 1.0]),
        // procurement
        "iot.shelf-sensor" => (Telemetry, [0.9, 1.0, 1.0, 1.2, 0.8, 0.01, 0.0, 0.0, 1.0]),
        "edi.purchase-order" => (Business, [1.0, 1.1, 1.0, 1.0, 0.8, 0.02, 0.0, 0.0, 1.0]),
        "dock.goods-receipt" => (Dock, [1.0, 0.8, 1.0, 1.25, 0.58, 0.06, 0.0, 0.0, 1.0]),
        _ => return None,
    };
    Some((
        rhythm,
        Profile {
            volume: v[0],
            value: v[1],
            party_value: v[2],
            cost: v[3],
            quality: v[4],
            nonconformant: v[5],
            growth: v[6],
            anonymous: v[7],
            pool_share: v[8],
        },
    ))
}

/// Where a party at a point comes from: a recent interaction at another point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LinkSpec {
    pub from: &'static str,
    /// The chance that the party comes this way (else the next link, else the pool).
    pub p: f64,
    /// The earlier interaction is between `min_s` and `max_s` seconds before.
    pub min_s: i64,
    pub max_s: i64,
    /// One-to-one (each earlier interaction is followed once, oldest first) rather than any
    /// recent one at random.
    pub fifo: bool,
}

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

const fn link(from: &'static str, p: f64, min_s: i64, max_s: i64, fifo: bool) -> LinkSpec {
    LinkSpec {
        from,
        p,
        min_s,
        max_s,
        fifo,
    }
}

/// The demo organization's journeys: a household is attracted by the catalogue, signs up for
/// the newsletter, gets the weekly offers, orders online, pays, is texted and delivered to,
/// and sometimes chats, calls or asks for a refund; business customers order, are invoiced and
/// chased; suppliers see the shelves, get orders, deliver and invoice.
const LINKS: &[(&str, &[LinkSpec])] = &[
    (
        "web.newsletter-signup",
        &[link("mail.catalogue", 0.25, HOUR, 20 * DAY, false)],
    ),
    (
        "email.weekly-offers",
        &[link("web.newsletter-signup", 0.04, HOUR, 7 * DAY, false)],
    ),
    (
        "app.loyalty-enroll",
        &[
            link("web.newsletter-signup", 0.45, DAY, 30 * DAY, true),
            link("store.checkout", 0.3, 10 * MIN, 2 * DAY, false),
        ],
    ),
    (
        "social.community",
        &[link("van.doorstep-handover", 0.3, HOUR, 3 * DAY, false)],
    ),
    (
        "app.personal-offers",
        &[link("email.weekly-offers", 0.3, 10 * MIN, 2 * DAY, false)],
    ),
    (
        "store.checkout",
        &[
            link("email.weekly-offers", 0.15, HOUR, 3 * DAY, false),
            link("mail.catalogue", 0.1, DAY, 14 * DAY, false),
        ],
    ),
    (
        "store.self-checkout",
        &[link("email.weekly-offers", 0.15, HOUR, 3 * DAY, false)],
    ),
    (
        "web.order",
        &[
            link("email.weekly-offers", 0.35, 10 * MIN, 3 * DAY, false),
            link("app.personal-offers", 0.15, 5 * MIN, DAY, false),
            link("app.loyalty-enroll", 0.1, HOUR, 10 * DAY, false),
        ],
    ),
    (
        "web.payment",
        &[link("web.order", 0.97, MIN, 20 * MIN, true)],
    ),
    (
        "store.click-collect",
        &[link("web.order", 0.9, 20 * HOUR, 3 * DAY, false)],
    ),
    (
        "sms.delivery-eta",
        &[link("web.order", 0.95, 20 * HOUR, 4 * DAY, true)],
    ),
    (
        "van.doorstep-handover",
        &[link("sms.delivery-eta", 0.97, 30 * MIN, 12 * HOUR, true)],
    ),
    (
        "web.chat",
        &[
            link("van.doorstep-handover", 0.3, HOUR, 3 * DAY, false),
            link("web.order", 0.3, HOUR, 2 * DAY, false),
        ],
    ),
    (
        "phone.care",
        &[
            link("web.chat", 0.25, 5 * MIN, 2 * DAY, false),
            link("van.doorstep-handover", 0.35, HOUR, 5 * DAY, false),
        ],
    ),
    (
        "web.refund",
        &[link("van.doorstep-handover", 0.7, HOUR, 4 * DAY, false)],
    ),
    (
        "store.returns-desk",
        &[link("store.checkout", 0.6, DAY, 20 * DAY, false)],
    ),
    (
        "email.b2b-invoice",
        &[link("b2b.account-order", 0.9, DAY, 31 * DAY, false)],
    ),
    (
        "phone.collections",
        &[link("email.b2b-invoice", 0.9, 25 * DAY, 45 * DAY, false)],
    ),
    (
        "edi.purchase-order",
        &[link("iot.shelf-sensor", 0.6, 10 * MIN, DAY, false)],
    ),
    (
        "dock.goods-receipt",
        &[link("edi.purchase-order", 0.85, DAY, 4 * DAY, true)],
    ),
    (
        "mail.supplier-invoice",
        &[link("dock.goods-receipt", 0.8, DAY, 10 * DAY, false)],
    ),
];

pub(crate) fn story_links(key: &str) -> Option<&'static [LinkSpec]> {
    LINKS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, links)| *links)
}

/// Links derived from processes, for points the story does not name: the party of a point
/// often comes from a point of the same party type at the previous step of the same process.
pub(crate) const STEP_LINK: (f64, i64, i64) = (0.5, 10 * MIN, 3 * DAY);

/// The pseudonymous id prefix and number width of a party type.
pub(crate) fn party_prefix(key: &str, kind: PartyKind) -> (String, usize) {
    let known = match key {
        "household" => Some("hh"),
        "business-customer" => Some("biz"),
        "supplier" => Some("sup"),
        "prospect" => Some("pr"),
        "delivery-partner" => Some("dp"),
        "payment-processor" => Some("pp"),
        _ => None,
    };
    let prefix = known.map(str::to_owned).unwrap_or_else(|| {
        let parts: Vec<&str> = key
            .split(['-', '.', '_'])
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() > 1 {
            parts.iter().filter_map(|p| p.chars().next()).collect()
        } else {
            key.chars().take(3).collect()
        }
    });
    let width = match kind {
        PartyKind::Individual => 6,
        PartyKind::Organization => 4,
    };
    (prefix, width)
}

/// How many parties of a type there are, for `events` interactions in all: enough that most
/// come back several times a year.
pub(crate) fn pool_size(key: &str, kind: PartyKind, events: u64) -> u32 {
    let n = events as f64;
    let size = match (key, kind) {
        ("delivery-partner", _) => 2.0,
        ("payment-processor", _) => 1.0,
        ("prospect", _) => (n / 200.0).clamp(20.0, 40_000.0),
        (_, PartyKind::Individual) => (n / 25.0).clamp(50.0, 200_000.0),
        (_, PartyKind::Organization) => (n / 2_000.0).clamp(5.0, 600.0),
    };
    size as u32
}

/// Interactions at points the inventory does not know (R8): channels teams opened without
/// telling anyone. (key, relative weight).
pub(crate) const UNDOCUMENTED: [(&str, f64); 4] = [
    ("whatsapp.order", 0.4),
    ("locker.pickup", 0.3),
    ("app.recipe-scan", 0.2),
    ("tiktok.live-shop", 0.1),
];

/// The share of all interactions at undocumented points.
pub(crate) const UNDOCUMENTED_SHARE: f64 = 0.004;

/// The shelf price of the demo organization's items (USD), by SKU: a basket line of the same
/// item costs the same in every order.
pub(crate) fn shelf_price(sku: &str) -> Option<f64> {
    Some(match sku {
        "milk-2l" => 3.49,
        "milk-oat-1l" => 3.99,
        "eggs-12" => 4.29,
        "butter-250g" => 3.79,
        "yogurt-greek-500g" => 4.49,
        "cheddar-400g" => 5.99,
        "bread-sourdough" => 4.99,
        "bread-wholewheat" => 3.29,
        "bagels-6" => 3.49,
        "bananas-1kg" => 1.49,
        "apples-gala-1kg" => 3.99,
        "strawberries-450g" => 4.99,
        "avocados-4" => 5.49,
        "spinach-baby-150g" => 2.99,
        "tomatoes-vine-500g" => 3.49,
        "potatoes-2kg" => 3.99,
        "onions-1kg" => 1.99,
        "carrots-1kg" => 1.79,
        "chicken-breast-1kg" => 11.99,
        "ground-beef-500g" => 6.99,
        "salmon-fillets-400g" => 12.99,
        "pasta-penne-500g" => 1.69,
        "rice-basmati-2kg" => 6.49,
        "cereal-oats-1kg" => 4.29,
        "coffee-beans-340g" => 9.99,
        "tea-bags-80" => 4.79,
        "orange-juice-1l" => 3.99,
        "sparkling-water-12" => 5.99,
        "peanut-butter-450g" => 3.89,
        "diapers-size3-60" => 14.99,
        "dish-soap-700ml" => 3.29,
        "toilet-paper-12" => 8.99,
        _ => return None,
    })
}
