//! The respondent page of a survey invitation (R14, R22): `GET /r/{survey}/{token}` shows the
//! survey's questions about the one interaction the invitation is frozen to — "your contact
//! with us through Online order on 3 March" — and `POST` either keeps the answers so far (to be
//! resumed from the same link) or sends them as the invitation's one response.
//!
//! The link is the credential: a signed token of the survey purpose that names its survey,
//! version and invitation ([`touchbase_store::invitations::link_subject`]), checked (MAC in
//! constant time, purpose, expiry) before the store is read, then its record (not revoked, not
//! used). A token for another survey opens nothing. Opening the page changes nothing (mail
//! scanners fetch links); every form carries a CSRF token bound to the link. An address that
//! keeps presenting tokens that do not open waits ([`crate::tokens::Throttle`]). The page is in
//! the browser's language where touchbase has its words (English, French), plain HTML
//! without script, usable on a phone.

use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};
use touchbase_core::link::{LinkError, Purpose};
use touchbase_core::voice::survey::{Builtin, Question, QuestionType};
use touchbase_core::voice::{Answers, Survey};
use touchbase_store::ingest::{Input, Status};
use touchbase_store::invitations::{self, Invitation};
use touchbase_store::links::{self, LinkRecord, Refused};
use touchbase_store::responses;

use crate::AppState;
use crate::customer_page::{self, document_in, escape, no_store, notice_in, page};

pub fn routes() -> Router<AppState> {
    Router::new().route("/r/{survey}/{token}", get(show).post(answer))
}

/// What the CSRF key of the respondent page is derived for.
const CSRF_PURPOSE: &str = "link/survey/csrf";

/// The longest form the page takes.
const FORM_MAX: usize = 64 * 1024;

/// The page's words in one language.
struct Words {
    lang: &'static str,
    title: &'static str,
    about: &'static str,
    optional: &'static str,
    nps: &'static str,
    nps_ends: (&'static str, &'static str),
    csat: &'static str,
    csat_scale: [&'static str; 5],
    ces: &'static str,
    ces_ends: (&'static str, &'static str),
    change: &'static str,
    why_buy: &'static str,
    send: &'static str,
    save: &'static str,
    saved: &'static str,
    check: &'static str,
    nothing: &'static str,
    thanks_title: &'static str,
    thanks: &'static str,
    answered_title: &'static str,
    answered: &'static str,
    not_valid_title: &'static str,
    not_valid: &'static str,
    expired_title: &'static str,
    expired: &'static str,
    revoked_title: &'static str,
    forged_title: &'static str,
    forged: &'static str,
    busy_title: &'static str,
    busy: &'static str,
    unavailable_title: &'static str,
    unavailable: &'static str,
    months: [&'static str; 12],
}

const EN: Words = Words {
    lang: "en",
    title: "A few questions from {org}",
    about: "About your contact with us through {point} on {date}.",
    optional: "Every question is optional. Your answers go to {org} only.",
    nps: "How likely are you to recommend {org} to a friend or colleague?",
    nps_ends: ("0: not at all likely", "10: extremely likely"),
    csat: "How satisfied were you with this interaction?",
    csat_scale: [
        "Very dissatisfied",
        "Dissatisfied",
        "Neither",
        "Satisfied",
        "Very satisfied",
    ],
    ces: "{org} made it easy for me to do what I wanted.",
    ces_ends: ("1: strongly disagree", "7: strongly agree"),
    change: "What would you change about this interaction?",
    why_buy: "Why do you buy from us rather than from a competitor?",
    send: "Send my answers",
    save: "Save and finish later",
    saved: "Your answers are saved. Open this link again to finish; nothing is sent until you choose Send.",
    check: "Please check your answers:",
    nothing: "answers: answer at least one question, or close this page",
    thanks_title: "Thank you",
    thanks: "Your answers are in. Thank you for taking the time.",
    answered_title: "You have answered already",
    answered: "This survey takes one answer per invitation, and yours is in. Thank you.",
    not_valid_title: "This link is not valid",
    not_valid: "Check that you opened the whole link from your message.",
    expired_title: "This survey link has expired",
    expired: "Survey links last a limited time. Thank you all the same.",
    revoked_title: "This survey link was withdrawn",
    forged_title: "This form could not be checked",
    forged: "Nothing was sent: the form did not come from this page. Open your link again.",
    busy_title: "Too many attempts",
    busy: "Please wait a few minutes before you try again.",
    unavailable_title: "This page is unavailable for now",
    unavailable: "Nothing was sent. Please try again in a few minutes.",
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
};

const FR: Words = Words {
    lang: "fr",
    title: "Quelques questions de {org}",
    about: "À propos de votre contact avec nous via {point} le {date}.",
    optional: "Chaque question est facultative. Vos réponses ne vont qu’à {org}.",
    nps: "Quelle est la probabilité que vous recommandiez {org} à un ami ou à un collègue ?",
    nps_ends: ("0 : pas du tout probable", "10 : très probable"),
    csat: "Dans quelle mesure êtes-vous satisfait de cet échange ?",
    csat_scale: [
        "Très insatisfait",
        "Insatisfait",
        "Ni l’un ni l’autre",
        "Satisfait",
        "Très satisfait",
    ],
    ces: "{org} m’a facilité la tâche.",
    ces_ends: ("1 : pas du tout d’accord", "7 : tout à fait d’accord"),
    change: "Que changeriez-vous à cet échange ?",
    why_buy: "Pourquoi achetez-vous chez nous plutôt que chez un concurrent ?",
    send: "Envoyer mes réponses",
    save: "Enregistrer et finir plus tard",
    saved: "Vos réponses sont enregistrées. Rouvrez ce lien pour finir ; rien n’est envoyé avant que vous choisissiez Envoyer.",
    check: "Merci de vérifier vos réponses :",
    nothing: "réponses : répondez à au moins une question, ou fermez cette page",
    thanks_title: "Merci",
    thanks: "Vos réponses sont bien reçues. Merci du temps consacré.",
    answered_title: "Vous avez déjà répondu",
    answered: "Ce questionnaire accepte une réponse par invitation, et la vôtre est reçue. Merci.",
    not_valid_title: "Ce lien n’est pas valide",
    not_valid: "Vérifiez que vous avez ouvert le lien complet de votre message.",
    expired_title: "Ce lien a expiré",
    expired: "Les liens des questionnaires ont une durée limitée. Merci tout de même.",
    revoked_title: "Ce lien a été retiré",
    forged_title: "Ce formulaire n’a pas pu être vérifié",
    forged: "Rien n’a été envoyé : le formulaire ne venait pas de cette page. Rouvrez votre lien.",
    busy_title: "Trop de tentatives",
    busy: "Merci de patienter quelques minutes avant de réessayer.",
    unavailable_title: "Cette page est indisponible pour le moment",
    unavailable: "Rien n’a été envoyé. Merci de réessayer dans quelques minutes.",
    months: [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
};

/// The words of the browser's language: the first language of `Accept-Language` (by weight)
/// that touchbase has words for, English otherwise.
fn words(headers: &HeaderMap) -> &'static Words {
    let Some(accept) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return &EN;
    };
    let mut ranked: Vec<(f64, usize, String)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next()?.trim().to_ascii_lowercase();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse().ok())
                .unwrap_or(1.0);
            (!tag.is_empty() && q > 0.0).then_some((q, i, tag))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, tag) in ranked {
        match tag.split('-').next().unwrap_or_default() {
            "fr" => return &FR,
            "en" => return &EN,
            _ => {}
        }
    }
    &EN
}

fn fill(text: &str, org: &str) -> String {
    escape(text).replace("{org}", &escape(org))
}

/// The peer's address (as the listener gives it, or a test's `MockConnectInfo`).
fn peer(request: &Request) -> Option<std::net::IpAddr> {
    let extensions = request.extensions();
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .or_else(|| {
            extensions
                .get::<axum::extract::connect_info::MockConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
        })
}

/// The survey and token of a `/r/{survey}/{token}` path.
fn path_of(request: &Request) -> (String, String) {
    let rest = request.uri().path().strip_prefix("/r/").unwrap_or_default();
    let (survey, token) = rest.split_once('/').unwrap_or((rest, ""));
    (survey.to_owned(), token.to_owned())
}

/// What an open link gives the page.
struct Opened {
    record: LinkRecord,
    invitation: Invitation,
    survey: Survey,
    org: String,
    point_name: String,
    timezone: Option<String>,
}

/// The link's invitation and survey, or the page that says why not (a token that does not open
/// counts against the address).
async fn open(
    state: &AppState,
    w: &'static Words,
    ip: Option<std::net::IpAddr>,
    survey_key: &str,
    token: &str,
    now: i64,
) -> Result<Opened, Response> {
    if let Some(ip) = ip
        && state.throttle.check(ip, std::time::Instant::now()).is_err()
    {
        return Err(notice_in(
            w.lang,
            StatusCode::TOO_MANY_REQUESTS,
            w.busy_title,
            &[w.busy],
        ));
    }
    let failed = |state: &AppState| {
        if let Some(ip) = ip {
            state.throttle.failed(ip, std::time::Instant::now());
        }
        notice_in(
            w.lang,
            StatusCode::NOT_FOUND,
            w.not_valid_title,
            &[w.not_valid],
        )
    };
    let Some(keys) = state.keys.as_deref() else {
        tracing::warn!("a survey link was opened but the server has no organization key");
        return Err(unavailable(w));
    };
    let record = match links::open(&*state.store, keys, Purpose::Survey, token, true, now).await {
        Ok(record) => record,
        Err(Refused::Used) => return Err(answered(w)),
        Err(Refused::Invalid(LinkError::Expired(_))) => {
            return Err(notice_in(
                w.lang,
                StatusCode::GONE,
                w.expired_title,
                &[w.expired],
            ));
        }
        Err(Refused::Revoked) => {
            return Err(notice_in(
                w.lang,
                StatusCode::GONE,
                w.revoked_title,
                &[w.expired],
            ));
        }
        Err(Refused::Store(e)) => {
            tracing::warn!(error = %e, "opening a survey link");
            return Err(unavailable(w));
        }
        Err(why) => {
            tracing::debug!(reason = %why, "a survey link was refused");
            return Err(failed(state));
        }
    };
    let Some((survey, _, id)) = invitations::subject_parts(&record.subject) else {
        return Err(failed(state));
    };
    // A token for another survey opens nothing here.
    if survey != survey_key {
        return Err(failed(state));
    }
    let invitation = match state.store.invitation(id).await {
        Ok(Some(i)) => i,
        Ok(None) => return Err(failed(state)),
        Err(e) => {
            tracing::warn!(error = %e, "reading an invitation");
            return Err(unavailable(w));
        }
    };
    if invitation.answered {
        return Err(answered(w));
    }
    let inventory = match touchbase_store::inventory::get(&*state.store).await {
        Ok(i) => i.value,
        Err(e) => {
            tracing::warn!(error = %e, "reading the inventory for a survey page");
            return Err(unavailable(w));
        }
    };
    let Some(survey) = inventory
        .surveys
        .iter()
        .find(|s| s.key == survey_key)
        .cloned()
    else {
        return Err(failed(state));
    };
    let point_name = inventory
        .point(&invitation.point)
        .map_or_else(|| invitation.point.clone(), |p| p.name.clone());
    Ok(Opened {
        record,
        invitation,
        survey,
        org: inventory.organization.name.clone(),
        point_name,
        timezone: inventory.organization.timezone.clone(),
    })
}

fn answered(w: &Words) -> Response {
    notice_in(w.lang, StatusCode::GONE, w.answered_title, &[w.answered])
}

fn unavailable(w: &Words) -> Response {
    notice_in(
        w.lang,
        StatusCode::SERVICE_UNAVAILABLE,
        w.unavailable_title,
        &[w.unavailable],
    )
}

/// The interaction's day as a person reads it, in the organization's time zone.
fn date_of(w: &Words, at: i64, timezone: Option<&str>) -> String {
    let zone = timezone
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    match jiff::Timestamp::from_microsecond(at) {
        Ok(t) => {
            let d = zone.to_datetime(t).date();
            let month = w.months[usize::from(d.month().unsigned_abs()) - 1];
            format!("{} {month}", d.day())
        }
        Err(_) => String::new(),
    }
}

// ---- GET -----------------------------------------------------------------------------------

/// The page, with the answers kept so far. Changes nothing.
async fn show(State(state): State<AppState>, request: Request) -> Response {
    let now = touchbase_store::ingest::now_us();
    let w = words(request.headers());
    let ip = peer(&request);
    let (survey, token) = path_of(&request);
    let opened = match open(&state, w, ip, &survey, &token, now).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let saved = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "saved=1"));
    let kept: Answers = match state.store.draft(&opened.invitation.id).await {
        Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_default(),
        Ok(None) => Answers::default(),
        Err(e) => {
            tracing::warn!(error = %e, "reading a draft");
            return unavailable(w);
        }
    };
    render(&state, w, &token, &opened, &kept, saved, &[])
}

/// The form, filled with `answers`, with a note that they were saved or the rules they break
/// (422).
fn render(
    state: &AppState,
    w: &Words,
    token: &str,
    o: &Opened,
    answers: &Answers,
    saved: bool,
    problems: &[String],
) -> Response {
    let Some(keys) = state.keys.as_deref() else {
        return unavailable(w);
    };
    let csrf = customer_page::csrf_token(keys, CSRF_PURPOSE, &o.record.hash);
    let title = fill(w.title, &o.org);
    let mut body = format!("<h1>{title}</h1>\n");
    let about = escape(w.about)
        .replace(
            "{point}",
            &format!("<strong>{}</strong>", escape(&o.point_name)),
        )
        .replace(
            "{date}",
            &escape(&date_of(w, o.invitation.at, o.timezone.as_deref())),
        );
    let _ = writeln!(
        body,
        "<p>{about}</p>\n<p class=\"muted small\">{}</p>",
        fill(w.optional, &o.org)
    );
    if saved {
        let _ = writeln!(
            body,
            "<p class=\"saved\" role=\"status\">{}</p>",
            escape(w.saved)
        );
    }
    if !problems.is_empty() {
        let _ = writeln!(
            body,
            "<div class=\"error\" role=\"alert\"><p>{}</p><ul>",
            escape(w.check)
        );
        for p in problems {
            let _ = writeln!(body, "<li>{}</li>", escape(p));
        }
        body.push_str("</ul></div>\n");
    }
    let action = format!("/r/{}/{}", escape(&o.survey.key), escape(token));
    let _ = writeln!(
        body,
        "<form method=\"post\" action=\"{action}\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">"
    );
    for q in &o.survey.questions {
        body.push_str("<section>\n");
        match q {
            Question::Builtin(b) => builtin(&mut body, w, *b, &o.org, answers),
            Question::Own(own) => {
                let given = answers.own.get(&own.key);
                let name = format!("q.{}", own.key);
                match own.kind {
                    QuestionType::Text => textarea(
                        &mut body,
                        &name,
                        &escape(&own.text),
                        given.and_then(Value::as_str),
                    ),
                    QuestionType::Choice | QuestionType::Multi => {
                        let multi = own.kind == QuestionType::Multi;
                        let chosen: Vec<&str> = match given {
                            Some(Value::String(s)) => vec![s.as_str()],
                            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                            _ => Vec::new(),
                        };
                        let _ = writeln!(
                            body,
                            "<fieldset><legend>{}</legend><div class=\"options\">",
                            escape(&own.text)
                        );
                        for (i, option) in own.options.iter().enumerate() {
                            let id = format!("{name}-{i}");
                            let _ = writeln!(
                                body,
                                "<label for=\"{id}\"><input type=\"{}\" id=\"{id}\" name=\"{name}\" value=\"{}\"{}> {}</label>",
                                if multi { "checkbox" } else { "radio" },
                                escape(option),
                                if chosen.contains(&option.as_str()) {
                                    " checked"
                                } else {
                                    ""
                                },
                                escape(option)
                            );
                        }
                        body.push_str("</div></fieldset>\n");
                    }
                }
            }
        }
        body.push_str("</section>\n");
    }
    let _ = writeln!(
        body,
        "<div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"send\">{}</button>\
         <button type=\"submit\" name=\"action\" value=\"save\" class=\"quiet\">{}</button></div>\n</form>",
        escape(w.send),
        escape(w.save)
    );
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(status, document_in(w.lang, &title, &body))
}

/// One of the built-in questions.
fn builtin(body: &mut String, w: &Words, b: Builtin, org: &str, answers: &Answers) {
    let scale = |body: &mut String,
                 name: &str,
                 legend: String,
                 lo: u8,
                 hi: u8,
                 given: Option<u8>,
                 label: &dyn Fn(u8) -> String,
                 ends: Option<(&str, &str)>| {
        let _ = writeln!(
            body,
            "<fieldset><legend>{legend}</legend><div class=\"scale\">"
        );
        for v in lo..=hi {
            let id = format!("{name}-{v}");
            let _ = writeln!(
                body,
                "<label for=\"{id}\"><input type=\"radio\" id=\"{id}\" name=\"{name}\" value=\"{v}\"{}> {}</label>",
                if given == Some(v) { " checked" } else { "" },
                label(v)
            );
        }
        body.push_str("</div>");
        if let Some((low, high)) = ends {
            let _ = write!(
                body,
                "<div class=\"ends\" aria-hidden=\"true\"><span>{}</span><span>{}</span></div>",
                escape(low),
                escape(high)
            );
        }
        body.push_str("</fieldset>\n");
    };
    match b {
        Builtin::Nps => scale(
            body,
            "nps",
            fill(w.nps, org),
            0,
            10,
            answers.nps,
            &|v| v.to_string(),
            Some(w.nps_ends),
        ),
        Builtin::Csat => scale(
            body,
            "csat",
            escape(w.csat),
            1,
            5,
            answers.csat,
            &|v| escape(w.csat_scale[usize::from(v) - 1]),
            None,
        ),
        Builtin::Ces => scale(
            body,
            "ces",
            fill(w.ces, org),
            1,
            7,
            answers.ces,
            &|v| v.to_string(),
            Some(w.ces_ends),
        ),
        Builtin::Change => textarea(body, "change", &escape(w.change), answers.change.as_deref()),
        Builtin::WhyBuy => textarea(
            body,
            "why_buy",
            &escape(w.why_buy),
            answers.why_buy.as_deref(),
        ),
    }
}

fn textarea(body: &mut String, name: &str, label: &str, given: Option<&str>) {
    let _ = writeln!(
        body,
        "<label for=\"{name}\">{label}</label>\n<textarea id=\"{name}\" name=\"{name}\" maxlength=\"4000\">{}</textarea>",
        escape(given.unwrap_or_default())
    );
}

// ---- POST ----------------------------------------------------------------------------------

/// The answers of the form: the built-in ones by name, the survey's own as `q.KEY` (a multiple
/// choice's options each as one value); empty fields are absent. Unparseable scores are kept
/// as text, for the wire format's rules to name.
fn answers_of(form: &[(String, String)], survey: &Survey) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in form {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match name.as_str() {
            "nps" | "csat" | "ces" => {
                let v = value
                    .parse::<u64>()
                    .map_or_else(|_| Value::String(value.to_owned()), Value::from);
                out.insert(name.clone(), v);
            }
            "change" | "why_buy" => {
                out.insert(name.clone(), Value::String(value.to_owned()));
            }
            other => {
                let Some(key) = other.strip_prefix("q.") else {
                    continue;
                };
                let multi = survey
                    .own(key)
                    .is_some_and(|q| q.kind == QuestionType::Multi);
                if multi {
                    let list = out
                        .entry(key.to_owned())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(items) = list {
                        items.push(Value::String(value.to_owned()));
                    }
                } else {
                    out.insert(key.to_owned(), Value::String(value.to_owned()));
                }
            }
        }
    }
    out
}

/// Keeps the answers so far, or sends them as the invitation's response.
async fn answer(State(state): State<AppState>, request: Request) -> Response {
    let now = touchbase_store::ingest::now_us();
    let w = words(request.headers());
    let ip = peer(&request);
    let (survey, token) = path_of(&request);
    let opened = match open(&state, w, ip, &survey, &token, now).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let Ok(body) = axum::body::to_bytes(request.into_body(), FORM_MAX).await else {
        return notice_in(
            w.lang,
            StatusCode::PAYLOAD_TOO_LARGE,
            w.forged_title,
            &[w.forged],
        );
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(keys) = state.keys.as_deref() else {
        return unavailable(w);
    };
    if !customer_page::csrf_holds(keys, CSRF_PURPOSE, &opened.record.hash, field("csrf")) {
        return notice_in(w.lang, StatusCode::FORBIDDEN, w.forged_title, &[w.forged]);
    }
    let answers = answers_of(&form, &opened.survey);
    let typed: Answers = serde_json::from_value(Value::Object(answers.clone())).unwrap_or_default();
    if field("action") == Some("save") {
        if let Err(e) = state
            .store
            .put_draft(
                &opened.invitation.id,
                &Value::Object(answers).to_string(),
                now,
            )
            .await
        {
            tracing::warn!(error = %e, "keeping a draft");
            return unavailable(w);
        }
        let to = format!("/r/{}/{}?saved=1", opened.survey.key, token);
        let mut response = (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, to)],
            String::new(),
        )
            .into_response();
        no_store(&mut response);
        return response;
    }
    if answers.is_empty() {
        return render(
            &state,
            w,
            &token,
            &opened,
            &typed,
            false,
            &[w.nothing.to_owned()],
        );
    }
    let i = &opened.invitation;
    let mut response = Map::new();
    response.insert("id".into(), Value::String(format!("page:{}", i.id)));
    response.insert("survey".into(), Value::String(i.survey.clone()));
    response.insert("point".into(), Value::String(i.point.clone()));
    response.insert(
        "at".into(),
        Value::String(touchbase_core::rules::instant(i.at)),
    );
    response.insert("invitation".into(), Value::String(i.id.clone()));
    if let Some(party) = &i.party {
        response.insert("party".into(), Value::String(party.clone()));
    }
    response.insert("answers".into(), Value::Object(answers));
    let input = Input::new(
        Value::Object(response).to_string(),
        format!("page:{}", i.id),
    );
    let outcome = match responses::take_answered(&*state.store, &[input], now).await {
        Ok(mut o) => o.remove(0),
        Err(e) => {
            tracing::warn!(error = %e, "recording a survey response");
            return unavailable(w);
        }
    };
    match outcome.status {
        Status::Accepted | Status::Duplicate => {
            if let Err(e) = state.store.use_link(&opened.record.hash, now).await {
                tracing::warn!(error = %e, "marking a survey link used");
            }
            notice_in(w.lang, StatusCode::OK, w.thanks_title, &[w.thanks])
        }
        _ if outcome.reasons.iter().any(|r| r == responses::ANSWERED) => answered(w),
        _ => render(&state, w, &token, &opened, &typed, false, &outcome.reasons),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, value.parse().unwrap());
        h
    }

    #[test]
    fn the_browser_language_is_chosen_by_weight() {
        assert_eq!(words(&HeaderMap::new()).lang, "en");
        assert_eq!(words(&accept("fr-CA,fr;q=0.9,en;q=0.8")).lang, "fr");
        assert_eq!(words(&accept("de-DE,en;q=0.5,fr;q=0.7")).lang, "fr");
        assert_eq!(words(&accept("de, es")).lang, "en");
        assert_eq!(words(&accept("fr;q=0, en")).lang, "en");
    }

    #[test]
    fn a_form_becomes_answers_by_question() {
        let survey = touchbase_core::file::parse_survey(
            "key: s\nname: S\npoints: [p]\nquestions:\n  - nps\n  - change\n  - { key: topics, type: multi, text: T, options: [a, b] }\n  - { key: pick, type: choice, text: P, options: [x, y] }\n",
        )
        .unwrap();
        let form: Vec<(String, String)> = [
            ("csrf", "t"),
            ("nps", "9"),
            ("change", "  "),
            ("q.topics", "a"),
            ("q.topics", "b"),
            ("q.pick", "y"),
            ("action", "send"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let answers = answers_of(&form, &survey);
        assert_eq!(
            Value::Object(answers),
            serde_json::json!({ "nps": 9, "topics": ["a", "b"], "pick": "y" })
        );
        let w = &FR;
        assert_eq!(date_of(w, 1_772_668_800_000_000, None), "5 mars");
    }
}
