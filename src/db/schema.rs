// @generated automatically by Diesel CLI.

diesel::table! {
    account_grants (id) {
        id -> Int8,
        account_id -> Int8,
        user_id -> Nullable<Int8>,
        role_id -> Nullable<Int8>,
        can_view -> Bool,
        can_send -> Bool,
        can_admin -> Bool,
    }
}

diesel::table! {
    attachments (id) {
        id -> Int8,
        message_id -> Int8,
        kind -> Text,
        file_name -> Text,
        mime_type -> Nullable<Text>,
        size_bytes -> Nullable<Int8>,
        storage_path -> Nullable<Text>,
        channel_file_id -> Nullable<Text>,
        url -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor_user_id -> Nullable<Int8>,
        action -> Text,
        target -> Text,
        ip -> Nullable<Text>,
        details -> Jsonb,
    }
}

diesel::table! {
    auth_tokens (id) {
        id -> Int8,
        kind -> Text,
        user_id -> Int8,
        token_hash -> Bytea,
        csrf_token -> Nullable<Text>,
        name -> Text,
        scopes -> Array<Text>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    channel_accounts (id) {
        id -> Int8,
        kind -> Text,
        name -> Text,
        credentials -> Jsonb,
        lead_source -> Bool,
        require_close_reason -> Bool,
        create_clients -> Bool,
        responsible_user_id -> Nullable<Int8>,
        responsible_role_id -> Nullable<Int8>,
        auto_link_interests -> Bool,
        everyone_may_view -> Bool,
        priority -> Int4,
        department_id -> Nullable<Int8>,
        enabled -> Bool,
        poll_state -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        archived_at -> Nullable<Timestamptz>,
        demo -> Bool,
        group_chats -> Bool,
        retention_months -> Nullable<Int4>,
    }
}

diesel::table! {
    channel_receipts (account_id, receipt_key) {
        account_id -> Int8,
        receipt_key -> Text,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    client_merges (id) {
        id -> Int8,
        from_client_id -> Int8,
        into_client_id -> Int8,
        merged_by -> Nullable<Int8>,
        merged_at -> Timestamptz,
        details -> Jsonb,
    }
}

diesel::table! {
    clients (id) {
        id -> Int8,
        kind -> Text,
        name -> Text,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        notes -> Text,
        merged_into_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        erased_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    close_reasons (id) {
        id -> Int8,
        name -> Text,
        is_default -> Bool,
        archived -> Bool,
        position -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    consents (id) {
        id -> Int8,
        interlocutor_id -> Int8,
        given -> Bool,
        source -> Text,
        note -> Text,
        recorded_by -> Nullable<Int8>,
        at -> Timestamptz,
    }
}

diesel::table! {
    data_access (id) {
        id -> Int8,
        at -> Timestamptz,
        user_id -> Int8,
        credential_id -> Nullable<Int8>,
        what -> Text,
        client_id -> Nullable<Int8>,
        dialog_id -> Nullable<Int8>,
    }
}

diesel::table! {
    contact_persons (id) {
        id -> Int8,
        client_id -> Int8,
        name -> Text,
        position -> Text,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    departments (id) {
        id -> Int8,
        name -> Text,
        parent_id -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    dialog_reads (dialog_id, user_id) {
        dialog_id -> Int8,
        user_id -> Int8,
        last_read_message_id -> Int8,
        read_at -> Timestamptz,
    }
}

diesel::table! {
    dialogs (id) {
        id -> Int8,
        number -> Int8,
        title -> Nullable<Text>,
        account_id -> Int8,
        interlocutor_id -> Int8,
        client_id -> Nullable<Int8>,
        status -> Text,
        responsible_user_id -> Nullable<Int8>,
        responsible_role_id -> Nullable<Int8>,
        is_lead -> Bool,
        interest_id -> Nullable<Int8>,
        close_reason_id -> Nullable<Int8>,
        close_comment -> Nullable<Text>,
        closed_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        last_message_at -> Nullable<Timestamptz>,
        last_message_preview -> Text,
        last_message_direction -> Nullable<Text>,
        last_inbound_message_id -> Nullable<Int8>,
        version -> Int8,
        account_priority -> Int4,
    }
}

diesel::table! {
    events (id) {
        id -> Int8,
        kind -> Text,
        account_id -> Nullable<Int8>,
        dialog_id -> Nullable<Int8>,
        user_id -> Nullable<Int8>,
        payload -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    failed_updates (id) {
        id -> Int8,
        account_id -> Int8,
        received_at -> Timestamptz,
        error -> Text,
        raw -> Text,
    }
}

diesel::table! {
    idempotency_keys (user_id, credential_id, key) {
        user_id -> Int8,
        key -> Text,
        request_hash -> Bytea,
        response_status -> Int2,
        response_body -> Jsonb,
        created_at -> Timestamptz,
        credential_id -> Int8,
    }
}

diesel::table! {
    interests (id) {
        id -> Int8,
        client_id -> Int8,
        title -> Text,
        description -> Text,
        status -> Text,
        amount_minor -> Nullable<Int8>,
        currency -> Nullable<Text>,
        responsible_user_id -> Nullable<Int8>,
        basis_dialog_id -> Nullable<Int8>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    interlocutors (id) {
        id -> Int8,
        account_id -> Int8,
        external_id -> Text,
        display_name -> Text,
        username -> Nullable<Text>,
        client_id -> Nullable<Int8>,
        contact_person_id -> Nullable<Int8>,
        profile -> Jsonb,
        blocked_at -> Nullable<Timestamptz>,
        last_inbound_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        erased_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mentions (message_id, user_id) {
        message_id -> Int8,
        user_id -> Int8,
        dialog_id -> Int8,
        seen_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    message_edits (id) {
        id -> Int8,
        message_id -> Int8,
        old_text -> Text,
        edited_at -> Timestamptz,
    }
}

diesel::table! {
    messages (id) {
        id -> Int8,
        dialog_id -> Int8,
        account_id -> Int8,
        direction -> Text,
        author_user_id -> Nullable<Int8>,
        text -> Text,
        channel_message_id -> Nullable<Text>,
        delivery -> Nullable<Text>,
        delivery_error -> Nullable<Text>,
        system_kind -> Nullable<Text>,
        system_data -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        channel_sent_at -> Nullable<Timestamptz>,
        edited_at -> Nullable<Timestamptz>,
        sender -> Nullable<Jsonb>,
        content -> Nullable<Jsonb>,
        deleted_at -> Nullable<Timestamptz>,
        redacted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Int8,
        message_id -> Int8,
        account_id -> Int8,
        dialog_id -> Int8,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        delivery_key -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    quick_replies (id) {
        id -> Int8,
        scope -> Text,
        owner_user_id -> Nullable<Int8>,
        account_id -> Nullable<Int8>,
        name -> Text,
        text -> Text,
        uses -> Int8,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    quick_reply_files (id) {
        id -> Int8,
        quick_reply_id -> Int8,
        file_name -> Text,
        mime_type -> Nullable<Text>,
        size_bytes -> Int8,
        storage_path -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    web_visits (interlocutor_id) {
        interlocutor_id -> Int8,
        page_url -> Nullable<Text>,
        referrer -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        consent_at -> Nullable<Timestamptz>,
        consent_text -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    roles (id) {
        id -> Int8,
        name -> Text,
        description -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    rules (id) {
        id -> Int8,
        account_id -> Nullable<Int8>,
        name -> Text,
        position -> Int4,
        enabled -> Bool,
        stop_processing -> Bool,
        conditions -> Jsonb,
        actions -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Jsonb,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    task_assignees (task_id, user_id) {
        task_id -> Int8,
        user_id -> Int8,
    }
}

diesel::table! {
    tasks (id) {
        id -> Int8,
        kind -> Text,
        title -> Text,
        description -> Text,
        dialog_id -> Nullable<Int8>,
        client_id -> Nullable<Int8>,
        author_id -> Int8,
        status -> Text,
        due_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    user_roles (user_id, role_id) {
        user_id -> Int8,
        role_id -> Int8,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        login -> Text,
        display_name -> Text,
        password_hash -> Text,
        department_id -> Nullable<Int8>,
        is_admin -> Bool,
        disabled -> Bool,
        locale -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        status -> Text,
        status_since -> Timestamptz,
    }
}

diesel::joinable!(account_grants -> channel_accounts (account_id));
diesel::joinable!(account_grants -> roles (role_id));
diesel::joinable!(account_grants -> users (user_id));
diesel::joinable!(attachments -> messages (message_id));
diesel::joinable!(audit_log -> users (actor_user_id));
diesel::joinable!(consents -> interlocutors (interlocutor_id));
diesel::joinable!(data_access -> dialogs (dialog_id));
diesel::joinable!(channel_accounts -> departments (department_id));
diesel::joinable!(channel_accounts -> roles (responsible_role_id));
diesel::joinable!(channel_accounts -> users (responsible_user_id));
diesel::joinable!(channel_receipts -> channel_accounts (account_id));
diesel::joinable!(client_merges -> users (merged_by));
diesel::joinable!(contact_persons -> clients (client_id));
diesel::joinable!(dialog_reads -> dialogs (dialog_id));
diesel::joinable!(dialog_reads -> users (user_id));
diesel::joinable!(dialogs -> channel_accounts (account_id));
diesel::joinable!(failed_updates -> channel_accounts (account_id));
diesel::joinable!(dialogs -> clients (client_id));
diesel::joinable!(dialogs -> close_reasons (close_reason_id));
diesel::joinable!(dialogs -> interlocutors (interlocutor_id));
diesel::joinable!(dialogs -> roles (responsible_role_id));
diesel::joinable!(idempotency_keys -> users (user_id));
diesel::joinable!(interests -> clients (client_id));
diesel::joinable!(interlocutors -> channel_accounts (account_id));
diesel::joinable!(interlocutors -> clients (client_id));
diesel::joinable!(interlocutors -> contact_persons (contact_person_id));
diesel::joinable!(message_edits -> messages (message_id));
diesel::joinable!(messages -> channel_accounts (account_id));
diesel::joinable!(messages -> dialogs (dialog_id));
diesel::joinable!(messages -> users (author_user_id));
diesel::joinable!(outbox -> channel_accounts (account_id));
diesel::joinable!(outbox -> dialogs (dialog_id));
diesel::joinable!(outbox -> messages (message_id));
diesel::joinable!(rules -> channel_accounts (account_id));
diesel::joinable!(task_assignees -> tasks (task_id));
diesel::joinable!(task_assignees -> users (user_id));
diesel::joinable!(tasks -> clients (client_id));
diesel::joinable!(quick_reply_files -> quick_replies (quick_reply_id));
diesel::joinable!(web_visits -> interlocutors (interlocutor_id));
diesel::joinable!(tasks -> dialogs (dialog_id));
diesel::joinable!(tasks -> users (author_id));
diesel::joinable!(user_roles -> roles (role_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(users -> departments (department_id));

diesel::allow_tables_to_appear_in_same_query!(
    account_grants,
    attachments,
    audit_log,
    auth_tokens,
    channel_accounts,
    channel_receipts,
    client_merges,
    clients,
    close_reasons,
    consents,
    contact_persons,
    data_access,
    departments,
    dialog_reads,
    dialogs,
    events,
    failed_updates,
    idempotency_keys,
    interests,
    interlocutors,
    mentions,
    message_edits,
    messages,
    outbox,
    quick_replies,
    quick_reply_files,
    roles,
    rules,
    settings,
    task_assignees,
    tasks,
    user_roles,
    users,
    web_visits,
);
