-- R40: a chat on the company's own website is a channel kind; each visitor is an
-- interlocutor of the website account, and where they came from (page, referrer,
-- browser) and the contact they left are kept beside them for the operators.
ALTER TABLE channel_accounts DROP CONSTRAINT channel_accounts_kind_check;
ALTER TABLE channel_accounts ADD CONSTRAINT channel_accounts_kind_check
    CHECK (kind IN ('telegram', 'vk', 'viber', 'whatsapp', 'max', 'web'));

CREATE TABLE web_visits (
    interlocutor_id BIGINT PRIMARY KEY REFERENCES interlocutors (id) ON DELETE CASCADE,
    page_url TEXT CHECK (length(page_url) <= 2048),
    referrer TEXT CHECK (length(referrer) <= 2048),
    user_agent TEXT CHECK (length(user_agent) <= 512),
    phone TEXT CHECK (length(phone) <= 50),
    email TEXT CHECK (length(email) <= 254),
    -- When the visitor agreed to the processing of their personal data (152-FZ), with the
    -- company's text as it was then.
    consent_at TIMESTAMPTZ,
    consent_text TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
